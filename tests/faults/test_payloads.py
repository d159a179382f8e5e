"""Cases 13-26 of the fault catalogue: bad payloads from EIA, OASIS and Open-Meteo, served by the
sources' simulators with scripted damage and run through the whole pipeline into a store."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from energy_caiso.simulator import CaisoSimulator
from energy_caiso.source import CaisoSource
from energy_weather.simulator import WeatherSimulator

from energy_core.errors import SourceUnavailableError
from energy_core.ingest.catalog import Catalog
from energy_core.ingest.report import RunReport
from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.plugin.interfaces import FetchRequest, RateBudget, SourceContext
from energy_core.plugin.simulator import SimResponse
from energy_core.storage.lake import Lake
from energy_core.testing import http_client
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import (
    FAST,
    JAN,
    FaultyCaiso,
    FaultyEia,
    FaultyWeather,
    edit_json,
    run_caiso,
    run_eia,
    run_weather,
    stored,
    values,
)

ZIP = {"Content-Type": "application/x-zip-compressed"}
CSV_NAME = "20240101_20240104_SLD_FCST_ACTUAL_20250101_00_00_00_v1.csv"


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def oasis_error(code: int, description: str) -> SimResponse:
    xml = (f"<?xml version='1.0' encoding='UTF-8'?><m:OASISReport xmlns:m='http://www.caiso.com/soa/'>"
           f"<m:MessagePayload><m:RTO><m:ERROR><m:ERR_CODE>{code}</m:ERR_CODE><m:ERR_DESC>{description}"
           "</m:ERR_DESC></m:ERROR></m:RTO></m:MessagePayload></m:OASISReport>").encode()
    return SimResponse(200, zip_of({"INVALID_REQUEST.xml": xml}), ZIP)


def edit_csv(change: Callable[[bytes], bytes]) -> Callable[[SimResponse], SimResponse]:
    """A fault that rewrites the CSV inside OASIS's real zip."""

    def apply(real: SimResponse) -> SimResponse:
        with zipfile.ZipFile(io.BytesIO(real.body)) as archive:
            (name,) = archive.namelist()
            data = archive.read(name)
        return replace(real, body=zip_of({name: change(data)}))

    return apply


def only_window(report: RunReport):
    (window,) = report.windows
    return window


# -- EIA ------------------------------------------------------------------------------------------

@pytest.mark.fault(13)
def test_f13_an_empty_answer_for_a_stored_range_keeps_the_data_and_is_recorded(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
    versions = Lake(tmp_path).versions()

    def empty(body: dict) -> None:
        body["response"].update(total="0", data=[])

    with FaultyEia(edit_json(empty)) as sim:
        report = run_eia(tmp_path, sim, refresh=True)
    assert only_window(report).status == "empty" and report.ok
    assert Lake(tmp_path).versions() == versions, "no commit: the month is neither deleted nor rewritten"
    catalog = Catalog(tmp_path)
    try:
        assert [w["status"] for w in catalog.windows(report.run_id)] == ["empty"]
    finally:
        catalog.close()


@pytest.mark.fault(14)
def test_f14_unstable_overlapping_pages_are_sorted_counted_and_stored_once(tmp_path):
    three = ("PACW", "ERCO", "CISO")  # 3 BAs x 4 series x 744 hours = 8,928 rows: two pages
    january = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    with FaultyEia(respondents=three) as sim:
        report = run(RunConfig(sources=("eia",), start=january[0], end=january[1], home=tmp_path, regions=three,
                               datasets=("eia.region",), env=sim.env(), retry=FAST))
    assert report.ok and len(sim.requests) == 2
    assert all(r.first("sort[0][column]") and r.first("sort[1][column]") for r in sim.requests)
    assert stored(tmp_path).height == 3 * 4 * 744

    def drop_a_row(body: dict) -> None:
        body["response"]["data"].pop()

    with FaultyEia(drop_a_row_fault := edit_json(drop_a_row), drop_a_row_fault, respondents=("PACW",)) as sim:
        report = run_eia(tmp_path / "short", sim)
    window = only_window(report)
    assert window.status == "failed" and "rows" in window.error and "total" in window.error
    assert stored(tmp_path / "short").height == 0


@pytest.mark.fault(15)
def test_f15_value_forms_are_coerced_missing_or_rejected_as_documented(tmp_path):
    forms = {"D": ["NA", None, "123.4", "", "1e309"], "TI": ["-50", "-0.5", "7", "12", "13"]}

    def set_values(body: dict) -> None:
        for code, texts in forms.items():
            rows = [r for r in body["response"]["data"] if r["type"] == code]
            for row, text in zip(sorted(rows, key=lambda r: r["period"]), texts, strict=False):
                row["value"] = text

    with FaultyEia(edit_json(set_values)) as sim:
        report = run_eia(tmp_path, sim)
    assert report.ok
    first = stored(tmp_path).sort("ts").group_by("series", maintain_order=True).head(5)
    demand = first.filter(series="demand")["value"].to_list()
    assert demand == [None, None, 123.4, None, None]
    assert first.filter(series="interchange")["value"].to_list() == [-50, -0.5, 7, 12, 13]
    assert any("1 value" in w or "non-finite" in w or "not a number" in w for w in report.warnings), report.warnings


@pytest.mark.fault(16)
@pytest.mark.parametrize(("change", "named"), [
    ("renamed", "respondent"),
    ("number became text", "period"),
])
def test_f16_schema_drift_names_the_field_and_writes_nothing(tmp_path, change, named):
    def drift(body: dict) -> None:
        row = body["response"]["data"][0]
        if change == "renamed":
            row["respondentId"] = row.pop("respondent")
        else:
            row["period"] = 2024010100

    with FaultyEia(edit_json(drift), edit_json(drift)) as sim:
        report = run_eia(tmp_path, sim)
    window = only_window(report)
    assert window.status == "failed" and named in window.error and "eia" in window.error
    assert stored(tmp_path).height == 0


@pytest.mark.fault(16)
def test_f16_a_new_field_is_ignored_so_the_api_can_grow(tmp_path):
    """The catalogue allows warn-and-ignore or fail. EIA adds descriptive fields to rows from time to
    time; failing on each would stop every user's pipeline for nothing, so new fields are ignored."""

    def grow(body: dict) -> None:
        for row in body["response"]["data"]:
            row["new-field"] = "x"

    with FaultyEia(edit_json(grow)) as sim:
        report = run_eia(tmp_path, sim)
    assert report.ok and only_window(report).rows > 0



@pytest.mark.fault(17)
@pytest.mark.parametrize("period", ["2024-01-01T01-08", "2024-01-01", "2024-01", "2024-01-01 01:00"])
def test_f17_period_forms_other_than_utc_hourly_are_rejected_not_guessed(tmp_path, period):
    def reform(body: dict) -> None:
        body["response"]["data"][0]["period"] = period

    with FaultyEia(edit_json(reform), edit_json(reform)) as sim:
        report = run_eia(tmp_path, sim)
    window = only_window(report)
    assert window.status == "failed" and period in window.error
    assert stored(tmp_path).height == 0


@pytest.mark.fault(17)
def test_f17_utc_hour_ending_periods_become_interval_starts(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
    first = stored(tmp_path)["ts"].min()
    assert first == datetime(2024, 1, 1, tzinfo=UTC)  # period 2024-01-01T01 is the hour 00:00-01:00



# -- OASIS ----------------------------------------------------------------------------------------

@pytest.mark.fault(18)
def test_f18_oasis_no_data_is_an_empty_window_recorded_in_the_catalog(tmp_path):
    with FaultyCaiso(oasis_error(1000, "No data returned for the specified selection")) as sim:
        report = run_caiso(tmp_path, sim)
    assert report.ok and only_window(report).status == "empty"
    catalog = Catalog(tmp_path)
    try:
        (window,) = catalog.windows(report.run_id)
    finally:
        catalog.close()
    assert window["status"] == "empty" and window["dataset"] == "caiso.load"
    assert stored(tmp_path).height == 0


@pytest.mark.fault(19)
@pytest.mark.parametrize("busy", [
    oasis_error(1015, "GroupZip still processing"),
    oasis_error(1003, "Request timed out waiting for the query"),
    oasis_error(1001, "Too many requests"),
    SimResponse(429, b"<html><body>Too many requests. Please wait 5 seconds.</body></html>",
                {"Content-Type": "text/html"}),
])
def test_f19_oasis_busy_answers_are_retried_at_least_five_seconds_apart_then_given_up(tmp_path, fake_time, busy):
    def fetch(sim) -> int:
        with http_client("caiso", RateBudget(100), seed=0, sleep=fake_time.sleep, clock=fake_time.clock,
                         retry=RetryPolicy(max_attempts=4)) as client:
            source = CaisoSource(SourceContext(http=client, env=sim.env()))
            (window,) = source.plan(FetchRequest(*JAN, (), ("caiso.load",)))
            return sum(b.rows.height for b in source.fetch(window))

    with FaultyCaiso(busy) as sim:
        assert fetch(sim) > 0
    assert [s for s in fake_time.sleeps if s >= 1] and min(s for s in fake_time.sleeps if s >= 1) >= 5
    with FaultyCaiso(*[busy] * 10) as sim, pytest.raises(SourceUnavailableError, match="gave up after 4 attempts"):
        fetch(sim)


@pytest.mark.fault(20)
@pytest.mark.parametrize(("code", "description", "named"), [
    (1004, "Data can be requested for period of 31 days only", "31 days"),
    (1002, "Invalid startdatetime format", "startdatetime"),
])
def test_f20_oasis_refusals_are_terminal_and_name_the_parameter(tmp_path, code, description, named):
    with FaultyCaiso(*[oasis_error(code, description)] * 5) as sim:
        report = run_caiso(tmp_path, sim)
    window = only_window(report)
    assert window.status == "failed" and named in window.error and str(code) in window.error
    assert len(sim.requests) == 1


@pytest.mark.fault(21)
@pytest.mark.parametrize("damage", ["truncated", "bad crc", "xml, not a zip", "html, not a zip"])
def test_f21_a_corrupt_zip_is_retried_named_and_never_cached(tmp_path, damage):
    """The catalogue says retry once, then fail; energy retries within the normal attempt budget
    (a corrupt download is a transient fault like a dropped connection)."""
    def corrupt(real: SimResponse) -> SimResponse:
        if damage == "truncated":
            return replace(real, body=real.body[: len(real.body) // 2])
        if damage == "bad crc":
            return replace(real, body=_flip_payload_byte(real.body))
        return replace(real, body=b"<?xml version='1.0'?><x/>" if damage.startswith("xml") else b"<html>oops</html>")

    with FaultyCaiso(corrupt) as sim:
        report = run_caiso(tmp_path, sim)
    assert report.ok and report.requests["caiso"]["retries"] == 1
    with FaultyCaiso(*[corrupt] * 10) as sim:
        report = run_caiso(tmp_path / "broken", sim)
    window = only_window(report)
    assert window.status == "failed" and "gave up" in window.error
    from energy_core.ingest.cache import RawCache

    cache = RawCache(tmp_path / "broken" / "raw")
    try:
        assert len(cache) == 0
    finally:
        cache.close()


def _flip_payload_byte(body: bytes) -> bytes:
    """Damage the compressed data of the first member, so its CRC check fails."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 10
    return body[:start] + bytes([body[start] ^ 0xFF]) + body[start + 1:]


@pytest.mark.fault(22)
@pytest.mark.parametrize("bomb", ["ratio", "members"])
def test_f22_zip_bombs_are_refused_before_they_fill_memory(tmp_path, bomb):
    body = (zip_of({CSV_NAME: b"0" * 20_000_000}) if bomb == "ratio"
            else zip_of({f"{i}_{CSV_NAME}": b"x" for i in range(10_000)}))
    with FaultyCaiso(*[SimResponse(200, body, ZIP)] * 5) as sim:
        report = run_caiso(tmp_path, sim)
    window = only_window(report)
    assert window.status == "failed" and ("zip bomb" in window.error or "members" in window.error)
    assert len(sim.requests) == 1, "an unsafe archive is not fetched again"
    assert stored(tmp_path).height == 0


@pytest.mark.fault(23)
@pytest.mark.parametrize("name", ["../../x.csv", "/etc/passwd", "C:\\x.csv"])
def test_f23_zip_slip_members_are_refused_and_nothing_is_extracted(tmp_path, name):
    with FaultyCaiso(SimResponse(200, zip_of({name: b"a,b\n1,2\n"}), ZIP)) as sim:
        report = run_caiso(tmp_path / "home", sim)
    window = only_window(report)
    assert window.status == "failed" and "refused zip member" in window.error
    assert not (tmp_path / "x.csv").exists() and not list(tmp_path.rglob("passwd"))


@pytest.mark.fault(24)
@pytest.mark.parametrize("xml", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
])
def test_f24_xml_with_a_dtd_or_entities_is_refused(tmp_path, xml):
    with FaultyCaiso(SimResponse(200, zip_of({"INVALID_REQUEST.xml": xml}), ZIP)) as sim:
        report = run_caiso(tmp_path, sim)
    window = only_window(report)
    assert window.status == "failed" and "document type declaration" in window.error
    assert len(sim.requests) == 1


@pytest.mark.fault(25)
@pytest.mark.parametrize("oddity", ["bom", "crlf", "reordered", "extra column", "footer"])
def test_f25_csv_oddities_are_read_by_column_name(tmp_path, oddity):
    def odd(data: bytes) -> bytes:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
        if oddity == "reordered":
            return frame.select(reversed(frame.columns)).write_csv().encode()
        if oddity == "extra column":
            return frame.with_columns(NEW_COLUMN=pl.lit("x")).write_csv().encode()
        if oddity == "bom":
            return b"\xef\xbb\xbf" + data
        if oddity == "crlf":
            return data.replace(b"\n", b"\r\n")
        return data + b"\n" + b"," * (frame.width - 1) + b"\nReport generated 2025-01-01,,,\n"

    with CaisoSimulator() as sim:
        assert run_caiso(tmp_path / "clean", sim).ok
    with FaultyCaiso(edit_csv(odd)) as sim:
        report = run_caiso(tmp_path / "odd", sim)
    assert report.ok, report.failed
    assert values(tmp_path / "odd").equals(values(tmp_path / "clean"))


@pytest.mark.fault(25)
def test_f25_a_repeated_header_is_refused_as_ambiguous(tmp_path):
    def repeat(data: bytes) -> bytes:
        header, rest = data.split(b"\n", 1)
        return header + b",MW\n" + rest.replace(b"\n", b",0\n")

    with FaultyCaiso(*[edit_csv(repeat)] * 2) as sim:
        report = run_caiso(tmp_path, sim)
    window = only_window(report)
    assert window.status == "failed" and "more than once" in window.error



# -- Open-Meteo -----------------------------------------------------------------------------------

def first_location(body: dict | list) -> dict:
    return body[0] if isinstance(body, list) else body


@pytest.mark.fault(26)
def test_f26_unequal_arrays_name_the_variable_nulls_stay_missing_and_offsets_are_applied(tmp_path):
    def unequal(body) -> None:
        first_location(body)["hourly"]["temperature_2m"].pop()

    with FaultyWeather(*[edit_json(unequal)] * 5) as sim:
        report = run_weather(tmp_path / "unequal", sim, JAN)
    window = only_window(report)
    assert window.status == "failed" and "temperature_2m" in window.error
    assert len(sim.requests) == 1

    def nulls(body) -> None:
        first_location(body)["hourly"]["temperature_2m"][:5] = [None] * 5

    with FaultyWeather(edit_json(nulls)) as sim:
        assert run_weather(tmp_path / "nulls", sim, JAN).ok
    with WeatherSimulator() as sim:
        assert run_weather(tmp_path / "clean", sim, JAN).ok
    clean, holes = values(tmp_path / "clean"), values(tmp_path / "nulls")
    assert clean.height == holes.height
    assert holes["value"].null_count() > clean["value"].null_count()

    def local_time(body) -> None:
        for location in body if isinstance(body, list) else [body]:
            location["utc_offset_seconds"] = -8 * 3600
            location["timezone"] = "America/Los_Angeles"
            location["hourly"]["time"] = [
                (datetime.fromisoformat(t) - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
                for t in location["hourly"]["time"]]

    with FaultyWeather(edit_json(local_time)) as sim:
        assert run_weather(tmp_path / "local", sim, JAN).ok
    assert values(tmp_path / "local").equals(clean)
