"""What a system calling the API relies on: forecasts, the live context and observations in every format,
each bad parameter answered with a 4xx and a JSON error saying what exists, and the docs."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from energy_core.features import FeatureStore
from energy_core.ml import forecast
from energy_core.ops.issued import issued
from energy_core.storage.lake import Lake
from energy_core.storage.schema import POLARS_SCHEMA

from .conftest import ENTITY, store_days

OBSERVATIONS = "/v1/observations?dataset=eia.region&region=PACW"


def test_the_forecast_is_the_libraries_and_is_recorded_as_issued(server, home):
    answer = server.get(f"/v1/forecast/{ENTITY}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = forecast(FeatureStore(home), home / "models" / ENTITY)
    assert body["entity"] == ENTITY and body["target"] == "eia.demand" and body["horizon"] == 24
    assert [row["ts"] for row in body["forecast"]] == [t.isoformat() for t in expected["ts"]]
    for column, library in (("value", "eia.demand"), ("p10", "p10"), ("p50", "p50"), ("p90", "p90")):
        np.testing.assert_allclose([row[column] for row in body["forecast"]], expected[library], rtol=1e-5)
    assert all(row["p10"] <= row["p90"] for row in body["forecast"])
    assert body["data_through"] == "2024-02-09T23:00:00+00:00" and body["feature_build"] == 1
    log = issued(home, ENTITY)
    assert log.height == 24 and set(log["issuer"]) == {"api"}
    assert log["issued_at"][0].isoformat() == body["issued_at"] and log["lead_hours"].to_list() == list(range(1, 25))
    assert log["p90"].to_list() == [row["p90"] for row in body["forecast"]]
    assert server.get(f"/v1/forecast/{ENTITY}").json() == body  # served from memory: no second issue
    assert issued(home, ENTITY).height == 24 and server.live.computed == 1


def test_an_unchanged_forecast_answers_304_to_its_etag(server):
    first = server.get(f"/v1/forecast/{ENTITY}")
    again = server.get(f"/v1/forecast/{ENTITY}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_the_forecast_in_other_formats(server, fmt):
    body = server.get(f"/v1/forecast/{ENTITY}").json()
    answer = server.get(f"/v1/forecast/{ENTITY}?format={fmt}")
    assert answer.status_code == 200
    frame = _read(fmt, answer.content)
    assert frame.height == 24 and frame.columns == ["ts", "value", "p10", "p50", "p90"]
    for column in frame.columns[1:]:
        np.testing.assert_allclose(frame[column], [row[column] for row in body["forecast"]])
    assert answer.headers["x-energy-feature-build"] == "1"


def test_an_entity_without_a_model_is_a_404_saying_how_to_train_one(server, home):
    (home / "models" / ENTITY / "checkpoint.json").unlink()
    answer = server.get(f"/v1/forecast/{ENTITY}")
    assert answer.status_code == 404
    assert "train one with `energy train --entity PACW`" in answer.json()["error"]


@pytest.mark.parametrize("path", ["/v1/forecast/NOPE", "/v1/context/NOPE", "/v1/context/..PACW",
                                  "/v1/forecast/%2E%2E", "/v1/context/PACW%2F..%2F..%2Fcatalog"])
def test_an_unknown_entity_is_a_404_listing_the_built_ones(server, path):
    answer = server.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()
    assert error["error"] and error.get("entities", ["PACW"]) == ["PACW"]


def test_the_context_is_the_latest_hours_in_their_units(server, home):
    answer = server.get(f"/v1/context/{ENTITY}?hours=168")
    assert answer.status_code == 200
    body = answer.json()
    wide = FeatureStore(home).frame(ENTITY).tail(168)
    assert body["hours"] == body["rows"] == 168 and body["feature_build"] == 1
    assert body["first_ts"] == "2024-02-03T00:00:00+00:00" and body["last_ts"] == "2024-02-09T23:00:00+00:00"
    assert list(body["data"][0]) == wide.columns
    assert [row["eia.demand"] for row in body["data"]] == pytest.approx(wide["eia.demand"].to_list())
    assert server.get(f"/v1/context/{ENTITY}").json()["hours"] == 168  # the default


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_the_context_in_other_formats(server, fmt):
    answer = server.get(f"/v1/context/{ENTITY}?hours=24&format={fmt}")
    assert answer.status_code == 200
    frame = _read(fmt, answer.content)
    assert frame.height == 24 and frame.columns[0] == "ts" and "eia.demand" in frame.columns
    assert answer.headers["x-energy-last-ts"] == "2024-02-09T23:00:00+00:00"


@pytest.mark.parametrize(("query", "status", "says"), [
    ("hours=0", 422, "hours=0 is not between 1 and 8760"),
    ("hours=8761", 422, "hours=8761 is not between 1 and 8760"),
    ("hours=many", 422, "hours: Input should be a valid integer"),
    ("format=xml", 422, "format: Input should be 'json', 'csv', 'arrow' or 'parquet'"),
])
def test_bad_context_parameters_are_422_naming_the_parameter(server, query, status, says):
    answer = server.get(f"/v1/context/{ENTITY}?{query}")
    assert answer.status_code == status
    assert says in answer.json()["error"]


def test_observations_are_the_stored_rows_of_the_range(server, home):
    answer = server.get(f"{OBSERVATIONS}&series=demand&start=2024-01-31T22:00&end=2024-02-01T02:00Z")
    assert answer.status_code == 200
    body = answer.json()
    stored = (Lake(home).scan("eia.region")
              .filter(pl.col("series") == "demand", pl.col("ts").is_between(datetime(2024, 1, 31, 22, tzinfo=UTC),
                                                                            datetime(2024, 2, 1, 1, tzinfo=UTC)))
              .sort("ts").collect())
    assert body["rows"] == 4 and not body["truncated"]  # across two monthly partitions
    assert [row["value"] for row in body["data"]] == stored["value"].to_list()
    assert [row["ts"] for row in body["data"]] == [t.isoformat() for t in stored["ts"]]
    assert body["data"][0]["retrieved_at"] == stored["retrieved_at"][0].isoformat()


def test_a_repeated_range_is_answered_again_only_until_its_table_changes(server, home):
    """Answers are kept by table version: the same question is not read again, and a write is seen at once."""
    ask = f"{OBSERVATIONS}&series=demand&start=2024-02-09T20:00Z&end=2024-02-10T04:00Z"
    first = server.get(ask).json()
    assert first["rows"] == 4 and server.get(ask).json() == first

    store_days(home, datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 2, 11, tzinfo=UTC))
    after = server.get(ask).json()
    assert after["rows"] == 8 and after["data"][:4] == first["data"]
    assert [row["ts"] for row in after["data"]][4:] == [f"2024-02-10T0{h}:00:00+00:00" for h in range(4)]


@pytest.mark.parametrize("fmt", ["json", "csv", "arrow", "parquet"])
def test_observations_in_every_format_hold_the_same_rows(server, fmt):
    answer = server.get(f"{OBSERVATIONS}&start=2024-01-05&end=2024-01-06&format={fmt}")
    assert answer.status_code == 200
    frame = _read(fmt, answer.content)
    assert frame.height == 24 * 4 and frame.columns == list(POLARS_SCHEMA)
    assert frame.select(first=pl.col("ts").min(), last=pl.col("ts").max()).row(0) == (
        datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 5, 23, tzinfo=UTC))
    assert frame.sort("ts", "series").equals(frame)


def test_a_limit_truncates_and_says_so(server):
    answer = server.get(f"{OBSERVATIONS}&start=2024-01-05&end=2024-01-06&limit=10")
    body = answer.json()
    assert body["rows"] == 10 and body["truncated"] is True
    csv = server.get(f"{OBSERVATIONS}&start=2024-01-05&end=2024-01-06&limit=10&format=csv")
    assert csv.headers["x-energy-truncated"] == "True" and csv.headers["x-energy-rows"] == "10"


@pytest.mark.parametrize(("query", "status", "says", "lists"), [
    ("dataset=eia.regoin&region=PACW&start=2024-01-01&end=2024-01-02", 404,
     "unknown dataset 'eia.regoin'; did you mean eia.region?", ("datasets", ["eia.region"])),
    ("dataset=eia.region&region=PACX&start=2024-01-01&end=2024-01-02", 404,
     "unknown region 'PACX' in eia.region; did you mean PACW?", ("regions", ["PACW"])),
    ("dataset=eia.region&region=PACW&series=demnd&start=2024-01-01&end=2024-01-02", 404,
     "unknown series 'demnd' for eia.region PACW; did you mean demand", ("series", ["demand", "demand_forecast",
                                                                                    "interchange", "net_generation"])),
    ("dataset=../../catalog.sqlite&region=PACW&start=2024-01-01&end=2024-01-02", 404, "unknown dataset", None),
    ("dataset=eia.region&region=PACW&start=2024-01-32&end=2024-02-02", 422, "start='2024-01-32' is not a UTC date",
     None),
    ("dataset=eia.region&region=PACW&start=2024-01-02&end=2024-01-01", 422, "is not after start", None),
    ("dataset=eia.region&region=PACW&start=2020-01-01&end=2024-01-01", 422, "over the cap of 366", None),
    ("dataset=eia.region&region=PACW&start=2024-01-01&end=2024-01-02&limit=5000001", 422,
     "limit 5000001 is not between 1 and 1000000", None),
    ("dataset=eia.region&region=PACW&start=2024-01-01&end=2024-01-02&limit=0", 422, "limit 0 is not between", None),
    ("dataset=eia.region&region=PACW&start=2024-01-01", 422, "end: Field required", None),
    ("dataset=eia.region&region=PACW&start=2024-01-01&end=2024-01-02&format=xlsx", 422, "format: Input should be",
     None),
])
def test_bad_observation_requests_get_a_json_error_saying_what_exists(server, query, status, says, lists):
    answer = server.get(f"/v1/observations?{query}")
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert says in error["error"]
    if lists is not None:
        assert error[lists[0]] == lists[1]


def test_an_empty_range_of_a_known_region_is_an_empty_answer(server):
    answer = server.get(f"{OBSERVATIONS}&start=2023-01-01&end=2023-01-02")
    assert answer.status_code == 200 and answer.json()["rows"] == 0 and answer.json()["data"] == []


def test_status_healthz_docs_and_unknown_routes(server):
    status = server.get("/v1/status").json()
    assert [(f["dataset"], f["region"], f["hours"]) for f in status["freshness"]] == [("eia.region", "PACW", 960)]
    assert status["runs"][0]["status"] == "ok" and status["problems"] == []
    assert status["entities"][0]["entity"] == ENTITY and status["entities"][0]["model"]["epoch"] == 1
    assert server.get("/healthz").json()["status"] == "ok"
    paths = server.get("/openapi.json").json()["paths"]
    assert {"/v1/forecast/{entity}", "/v1/context/{entity}", "/v1/observations", "/v1/status", "/metrics",
            "/healthz", "/"} <= set(paths)
    assert "swagger" in server.get("/docs").text.lower()
    missing = server.get("/v2/anything")
    assert missing.status_code == 404 and "see /docs" in missing.json()["error"]


def test_metrics_hold_the_homes_state_and_the_servers_requests(server, home):
    server.get(f"/v1/forecast/{ENTITY}")
    text = server.get("/metrics").text
    assert 'energy_runs{status="ok"} 1.0' in text
    assert 'energy_observation_rows{dataset="eia.region",region="PACW"} 3840.0' in text
    lag = float(next(line for line in text.splitlines() if line.startswith("energy_freshness_lag_seconds")).split()[-1])
    expected = (datetime.now(UTC) - datetime(2024, 2, 10, tzinfo=UTC)).total_seconds()
    assert abs(lag - expected) < 60
    assert 'energy_source_requests_total{source="eia"}' in text and 'energy_features_build{entity="PACW"} 1.0' in text
    assert 'energy_http_requests_total{method="GET",route="/v1/forecast/{entity}",status="200"} 1.0' in text
    assert "energy_forecast_mae" not in text.replace("# HELP energy_forecast_mae", "").replace(
        "# TYPE energy_forecast_mae", "")  # no actual value has arrived for the forecast hours yet


def test_metrics_hold_what_the_last_energy_monitor_found(server, home):
    from energy_core.ops.jobs import monitor
    from energy_core.ops.monitor.settings import MonitorSettings

    assert "energy_monitor_check_ok{" not in server.get("/metrics").text, "no check has run yet"
    monitor(home, MonitorSettings(), env={})
    assert "energy_monitor_check_ok{" in server.get("/metrics").text


def test_cors_is_off_unless_an_origin_is_configured(serve):
    plain = serve()
    preflight = {"Origin": "https://grid.example.org", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in plain.get("/v1/status", headers={"Origin": "https://x.org"}).headers
    assert plain.get("/v1/status", headers=preflight).status_code == 200  # no CORS: a plain GET, no preflight answer
    allowed = serve(cors_origins=("https://grid.example.org",))
    answer = allowed.get("/v1/status", headers={"Origin": "https://grid.example.org"})
    assert answer.headers["access-control-allow-origin"] == "https://grid.example.org"
    other = allowed.get("/v1/status", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers


def _read(fmt: str, content: bytes) -> pl.DataFrame:
    if fmt == "json":
        rows = pl.DataFrame(json.loads(content)["data"])
        return rows.with_columns(pl.col(c).str.to_datetime(time_zone="UTC") for c in ("ts", "retrieved_at"))
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(content), try_parse_dates=True)
    if fmt == "arrow":
        return pl.read_ipc_stream(io.BytesIO(content))
    return pl.read_parquet(io.BytesIO(content))


def test_a_forecast_is_scored_once_its_hours_are_stored(server, home):
    """The accuracy the monitoring issue builds on: issued forecasts against the actuals that arrive later."""
    from .conftest import store_days

    first = server.get(f"/v1/forecast/{ENTITY}").json()
    store_days(home, datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 2, 11, tzinfo=UTC))
    FeatureStore(home).build([ENTITY])
    status = server.get("/v1/status").json()
    accuracy = status["entities"][0]["accuracy"]
    actual = FeatureStore(home).frame(ENTITY).filter(pl.col("ts") >= datetime(2024, 2, 10, tzinfo=UTC))["eia.demand"]
    predicted = np.array([row["value"] for row in first["forecast"]])
    assert accuracy["hours"] == 24 and accuracy["issues"] == 1
    assert accuracy["mae"] == pytest.approx(float(np.abs(predicted - actual.to_numpy()).mean()))
    assert f'energy_forecast_scored_hours{{entity="{ENTITY}"}} 24.0' in server.get("/metrics").text
    assert json.loads(server.get(f"/v1/forecast/{ENTITY}").content)["data_through"] == \
        (datetime(2024, 2, 10, tzinfo=UTC) + timedelta(hours=23)).isoformat()
