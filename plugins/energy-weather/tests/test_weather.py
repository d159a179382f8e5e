from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
import pytest
from energy_weather.normalize import WeatherNormalizer
from energy_weather.parse import classify, parse_locations
from energy_weather.points import BUILTIN, Point, at_points, load_points
from energy_weather.source import POINTS_PER_REQUEST, WeatherSource

from energy_core.errors import ConfigError, InvalidRequestError, PayloadValidationError, QuotaExhaustedError
from energy_core.ingest.runner import RunConfig, plan, run
from energy_core.plugin.interfaces import FetchRequest, HttpResponse, RawBatch, SourceContext, Window
from energy_core.storage.lake import Lake
from energy_core.storage.schema import KEY, validate_observations

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def body(times: list[str], **variables) -> HttpResponse:
    payload = {"latitude": 45.5, "longitude": -122.7, "utc_offset_seconds": 0,
               "hourly_units": {"time": "iso8601", **{v: "mm" for v in variables}},
               "hourly": {"time": times, **variables}}
    return HttpResponse(200, "application/json", orjson.dumps(payload), "test")


def rows_for(points: dict[str, tuple[str, float, dict[str, list]]]) -> pl.DataFrame:
    """Rows as the source hands them to the normalizer: point -> (ba, weight, {variable: values})."""
    frames = []
    for point, (ba, weight, variables) in points.items():
        times = [f"{T0 + timedelta(hours=h):%Y-%m-%dT%H:%M}" for h in range(3)]
        parsed = parse_locations(body(times, **variables), [Point(point, 0, 0, weight)], list(variables))
        frames.append(parsed.with_columns(ba=pl.lit(ba), weight=pl.lit(weight)))
    return pl.concat(frames)


def normalize(rows: pl.DataFrame, dataset="weather.hourly", retrieved_at=T0 + timedelta(days=30)) -> pl.DataFrame:
    window = Window("weather", dataset, T0 - timedelta(hours=1), T0 + timedelta(hours=3), ("PACW",))
    return validate_observations(WeatherNormalizer().normalize(RawBatch(window, rows, retrieved_at)))


def test_preceding_hour_variables_move_to_the_hour_they_describe():
    out = normalize(rows_for({"PACW.a": ("PACW", 1.0, {"precipitation": [1.0, 2.0, 3.0],
                                                          "temperature_2m": [5.0, 6.0, 7.0]})}))
    point = out.filter(region="PACW.a")
    rain = point.filter(series="precipitation").sort("ts")
    warm = point.filter(series="temperature_2m").sort("ts")
    assert rain["ts"].to_list()[0] == T0 - timedelta(hours=1) and rain["value"].to_list() == [1.0, 2.0, 3.0]
    assert warm["ts"].to_list()[0] == T0 and warm["value"].to_list() == [5.0, 6.0, 7.0]


def test_regional_value_is_the_weighted_mean_and_missing_when_a_point_is():
    out = normalize(rows_for({"PACW.a": ("PACW", 0.75, {"temperature_2m": [10.0, 10.0, None]}),
                              "PACW.b": ("PACW", 0.25, {"temperature_2m": [20.0, 30.0, 40.0]})}))
    regional = out.filter(region="PACW").sort("ts")["value"].to_list()
    assert regional == [12.5, 15.0, None]


def test_unequal_arrays_name_the_variable():
    with pytest.raises(PayloadValidationError, match="'precipitation' has 2 values for 3 times"):
        parse_locations(body(["2024-01-01T00:00", "2024-01-01T01:00", "2024-01-01T02:00"],
                             precipitation=[1.0, 2.0]), [Point("P.x", 0, 0, 1)], ["precipitation"])


def test_nulls_are_kept_as_missing():
    rows = parse_locations(body(["2024-01-01T00:00"], precipitation=[None]), [Point("P.x", 0, 0, 1)],
                           ["precipitation"])
    assert rows["value"].to_list() == [None]


@pytest.mark.parametrize(("status", "reason", "error"), [
    (400, "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly",
     InvalidRequestError),
    (400, "Parameter 'end_date' is out of allowed range from 1940-01-01 to 2024-05-01", InvalidRequestError),
    (429, "Daily API request limit exceeded. Please try again tomorrow.", QuotaExhaustedError),
])
def test_error_bodies_become_typed_errors_with_the_reason(status, reason, error):
    result = classify(HttpResponse(status, "application/json", orjson.dumps({"error": True, "reason": reason}), "t"))
    assert isinstance(result, error) and reason in str(result)


def test_forecasts_keep_only_hours_still_ahead_when_fetched():
    rows = rows_for({"PACW.a": ("PACW", 1.0, {"temperature_2m": [1.0, 2.0, 3.0]})})
    out = normalize(rows, "weather.forecast", retrieved_at=T0 + timedelta(hours=1, minutes=20))
    assert sorted(set(out["ts"].to_list())) == [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]


def source(env=None) -> WeatherSource:
    return WeatherSource(SourceContext(http=None, env=env or {}))


def test_plan_splits_years_and_groups_points_without_splitting_a_ba():
    request = FetchRequest(datetime(2021, 6, 1, tzinfo=UTC), datetime(2023, 3, 1, tzinfo=UTC),
                           datasets=("weather.hourly",))
    windows = source().plan(request)
    spans = sorted({(w.start, w.end) for w in windows})
    assert [s[0].year for s in spans] == [2021, 2022, 2023] and spans[-1][1] == request.end
    groups = {w.regions for w in windows}
    assert set().union(*groups) == set(BUILTIN)
    assert all(sum(len(BUILTIN[ba]) for ba in g) <= POINTS_PER_REQUEST for g in groups)


def test_past_forecasts_are_asked_only_where_the_previous_runs_api_keeps_them():
    request = FetchRequest(datetime(2023, 6, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), ("PACW",),
                           ("weather.forecast",))
    assert {(w.start, w.end) for w in source().plan(request)} == {(datetime(2024, 1, 1, tzinfo=UTC), request.end)}
    replayed = source({"ENERGY_WEATHER_PREVIOUS_RUNS_START": "2023-01-01"}).plan(request)
    assert min(w.start for w in replayed) == request.start
    with pytest.raises(ConfigError, match="ENERGY_WEATHER_PREVIOUS_RUNS_START='June' is no ISO date"):
        source({"ENERGY_WEATHER_PREVIOUS_RUNS_START": "June"})


def test_plan_sends_recent_days_and_the_days_ahead_to_the_forecast_api():
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    request = FetchRequest(now - timedelta(days=20), now + timedelta(days=3), ("PACW",),
                           ("weather.hourly", "weather.forecast"))
    windows = source().plan(request)
    assert [(w.dataset, w.end - w.start <= timedelta(days=16)) for w in windows][-1] == ("weather.forecast", True)
    assert windows[-1].start == now and windows[-1].end == now + timedelta(days=3)
    hourly = [w for w in windows if w.dataset == "weather.hourly"]
    assert hourly[-1].end == now
    # the past hours' forecasts come from the Previous Runs API, as known a day before each hour
    assert windows[-2].dataset == "weather.forecast" and (windows[-2].start, windows[-2].end) == (request.start, now)


def test_every_eia930_ba_and_ciso_has_weighted_points():
    for ba in ("ERCO", "ISNE", "MISO", "NYIS", "PACW", "PJM", "CISO"):
        assert BUILTIN[ba] and sum(p.weight for p in BUILTIN[ba]) == pytest.approx(1.0, abs=1e-3)


def test_user_points_replace_a_ba_and_extend_the_table(tmp_path):
    config = tmp_path / "points.toml"
    config.write_text('[[PACW]]\nid = "PACW.salem"\nlatitude = 44.94\nlongitude = -123.03\nweight = 2\n'
                      '[[NEWBA]]\nid = "NEWBA.town"\nlatitude = 40\nlongitude = -100\nweight = 1\n')
    table = load_points({"ENERGY_WEATHER_POINTS": str(config)})
    assert table["PACW"] == (Point("PACW.salem", 44.94, -123.03, 1.0),)
    assert table["NEWBA"][0].id == "NEWBA.town" and table["ERCO"] == BUILTIN["ERCO"]
    config.write_text('[[PACW]]\nid = "PACW.bad"\nlatitude = 95\nlongitude = 0\nweight = 1\n')
    with pytest.raises(ConfigError, match="invalid ones: \\['PACW.bad'\\]"):
        load_points({"ENERGY_WEATHER_POINTS": str(config)})


def test_its_regions_are_the_bas_with_points_the_users_included(tmp_path):
    config = tmp_path / "points.toml"
    config.write_text('[[NEWBA]]\nid = "NEWBA.town"\nlatitude = 40\nlongitude = -100\nweight = 1\n')
    assert set(WeatherSource.known_regions({})) == set(BUILTIN)
    assert set(WeatherSource.known_regions({"ENERGY_WEATHER_POINTS": str(config)})) == {*BUILTIN, "NEWBA"}
    plans = plan(RunConfig(sources=("weather",), start=datetime(2023, 1, 1, tzinfo=UTC),
                           end=datetime(2023, 1, 2, tzinfo=UTC), home=tmp_path / "home", regions=("NEWBA",),
                           datasets=("weather.hourly",), env={"ENERGY_WEATHER_POINTS": str(config)}))
    assert [w.window.regions for w in plans[0].windows] == [("NEWBA",)]


def test_three_source_simulated_run_lines_weather_up_with_eia_and_reruns_identically(tmp_path):
    config = RunConfig(sources=("eia", "caiso", "weather"), start=datetime(2024, 3, 8, tzinfo=UTC),
                       end=datetime(2024, 3, 12, tzinfo=UTC), home=tmp_path, regions=("PACW", "CISO"),
                       datasets=("eia.region", "caiso.load", "weather.hourly"), simulate=True)
    first = run(config)
    assert first.ok, first.failed
    lake = Lake(tmp_path)
    versions, stored = lake.versions(), lake.revisions().collect().sort([*KEY, "retrieved_at"])
    weather, eia = lake.scan("weather.hourly").collect(), lake.scan("eia.region").collect()
    for ba in ("PACW", "CISO"):
        hours = weather.filter(region=ba, series="temperature_2m")["ts"].sort()
        assert hours.equals(eia.filter(region=ba, series="demand")["ts"].sort()) and len(hours) == 96
        assert weather.filter(region=ba)["value"].null_count() == 0
    assert weather.filter(pl.col("region").str.starts_with("PACW."))["region"].n_unique() == len(BUILTIN["PACW"])
    night = weather.filter(region="CISO", series="shortwave_radiation", ts=datetime(2024, 3, 9, 10, tzinfo=UTC))
    assert night["value"].to_list() == [0.0]  # 02:00 in California: dark
    second = run(config)
    assert second.ok and second.rows_stored == 0
    assert lake.versions() == versions, "the re-run committed to the lake"
    assert lake.revisions().collect().sort([*KEY, "retrieved_at"]).equals(stored)


def test_a_misspelled_variable_is_refused_with_the_apis_reason():
    from energy_weather.simulator import WeatherSimulator

    from energy_core.testing import http_client

    with WeatherSimulator() as sim, http_client("weather", WeatherSimulator.budget) as http:
        weather = WeatherSource(SourceContext(http=http, env={**sim.env(), "ENERGY_WEATHER_VARIABLES": "tempeture_2m"}))
        window = Window("weather", "weather.hourly", T0, T0 + timedelta(days=2), ("PACW",))
        with pytest.raises(InvalidRequestError, match="invalid String value tempeture_2m"):
            list(weather.fetch(window))
        assert len(sim.requests) == 1


def planted_table(path, hours=72):
    """Three days of hourly temperature for ERCO (its BA rows) and a day-ahead forecast 2 degrees warmer."""
    start = datetime(2019, 7, 1, tzinfo=UTC)
    ts = [start + timedelta(hours=h) for h in range(hours)]
    actual = [20.0 + (h % 24) / 2 for h in range(hours)]
    at_points(pl.DataFrame({"ts": ts, "region": "ERCO", "temperature_c": actual,
                            "forecast_temperature_c": [a + 2 for a in actual]}), BUILTIN).write_parquet(path)
    return start, actual


def test_table_mode_replays_recorded_temperature_and_its_day_ahead_forecast(tmp_path):
    from energy_weather.api import TABLE_VARIABLE

    start, actual = planted_table(tmp_path / "t2m.parquet")
    env = {TABLE_VARIABLE: str(tmp_path / "t2m.parquet"), "ENERGY_WEATHER_VARIABLES": "temperature_2m"}
    report = run(RunConfig(sources=("weather",), start=start, end=start + timedelta(days=3), home=tmp_path / "home",
                           regions=("ERCO",), datasets=("weather.hourly", "weather.forecast"), simulate=True, env=env))
    assert report.ok, report.failed
    lake = Lake(tmp_path / "home")
    observed = lake.scan("weather.hourly").filter(region="ERCO").collect().sort("ts")
    forecast = lake.scan("weather.forecast").filter(region="ERCO").collect().sort("ts")
    assert observed["value"].to_list() == pytest.approx(actual)
    assert forecast["value"].to_list() == pytest.approx([a + 2 for a in actual])
    # each forecast was known a day before its hour: a forecast issued at midnight covers the next 24 hours
    assert (forecast["ts"] - forecast["retrieved_at"]).unique().to_list() == [timedelta(days=1)]
    assert observed.filter(pl.col("region").str.starts_with("ERCO."))["value"].null_count() == 0


def test_table_mode_refuses_a_variable_or_a_place_it_does_not_hold(tmp_path):
    from energy_weather.simulator import WeatherSimulator

    from energy_core.testing import http_client

    planted_table(tmp_path / "t2m.parquet")
    with WeatherSimulator(table=tmp_path / "t2m.parquet") as sim, \
            http_client("weather", WeatherSimulator.budget) as http:
        window = Window("weather", "weather.hourly", datetime(2019, 7, 1, tzinfo=UTC),
                        datetime(2019, 7, 2, tzinfo=UTC), ("ERCO",))
        variables = "ENERGY_WEATHER_VARIABLES"
        weather = WeatherSource(SourceContext(http=http, env={**sim.env(), variables: "cloud_cover"}))
        with pytest.raises(InvalidRequestError, match="no column 'cloud_cover'.*ENERGY_WEATHER_VARIABLES"):
            list(weather.fetch(window))
        weather = WeatherSource(SourceContext(http=http, env={**sim.env(), variables: "temperature_2m"}))
        with pytest.raises(InvalidRequestError, match="no rows for latitude"):
            list(weather.fetch(Window("weather", "weather.hourly", window.start, window.end, ("PACW",))))
