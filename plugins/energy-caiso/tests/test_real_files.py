"""Every recorded CAISO body in tests/data/caiso/ behaves as the real service means it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime

import polars as pl
import pytest
from energy_caiso.archive import OasisError, oasis_error
from energy_caiso.normalize import CaisoNormalizer
from energy_caiso.parse import read_fuelsource
from energy_caiso.reports import OASIS_DATASETS
from energy_caiso.source import classify, parse_oasis

from energy_core.errors import PayloadValidationError, RateLimitedError
from energy_core.plugin.interfaces import HttpResponse, RawBatch, Window
from energy_core.storage.schema import validate_observations
from tests.recorded import recorded

ENE_SLRS = "caiso/20221231_20230102_ENE_SLRS_RTM_20250705_07_09_55_v1.zip"


def response(path: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, "application/x-zip-compressed", recorded(path).read_bytes(), f"recorded:{path}")


def test_real_ene_slrs_zip_parses_and_normalizes_to_complete_utc_hours():
    answer = parse_oasis(response(ENE_SLRS), report=OASIS_DATASETS["caiso.schedules"][0])
    assert answer.rows.height == 38_592
    window = Window("caiso", "caiso.schedules", datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 1, 3, tzinfo=UTC))
    out = validate_observations(CaisoNormalizer().normalize(RawBatch(window, answer.rows, datetime.now(UTC))))
    system = out.filter(region="CISO")
    assert set(system["series"]) == {"schedule.generation", "schedule.imports", "schedule.exports", "schedule.load"}
    assert system.group_by("series").len()["len"].to_list() == [48] * 4  # 2 days of UTC hours, none missing
    assert out["value"].null_count() == 0 and set(out["unit"]) == {"MWh"}
    # the first UTC hour of exports: the mean of its twelve 5-minute MW values
    raw = answer.rows.filter(pl.col("area") == "Caiso_Totals", pl.col("item") == "Export",
                             pl.col("start") < datetime(2023, 1, 1, 1, tzinfo=UTC))
    first = system.filter(series="schedule.exports").sort("ts").row(0, named=True)
    assert raw.height == 12 and first["value"] == pytest.approx(raw["value"].mean())
    load = system.pivot("series", index="ts", values="value")
    assert (load["schedule.load"] - (load["schedule.generation"] + load["schedule.imports"]
                                     - load["schedule.exports"])).abs().max() < 1e-6


def test_real_error_zip_is_a_typed_error_carrying_its_code():
    with pytest.raises(OasisError) as info:
        parse_oasis(response("caiso/INVALID_REQUEST_err1001_SLD_RTO.xml.zip"),
                    report=OASIS_DATASETS["caiso.load"][0])
    assert (info.value.code, info.value.description) == (1001, "Invalid Parameters of the given report name")
    assert not info.value.transient


@pytest.mark.parametrize(("name", "code", "hint"), [
    ("INVALID_REQUEST_err1001_SLD_RTO.xml", 1001, "Invalid Parameters"),
    ("INVALID_REQUEST_err1002_bad_datetime_format.xml", 1002, "startdatetime/enddatetime must look like"),
])
def test_real_error_xml_maps_to_its_typed_error(name, code, hint):
    error = oasis_error(recorded(f"caiso/{name}").read_bytes(), "recorded")
    assert isinstance(error, OasisError) and error.code == code and hint in str(error)


def test_real_429_page_is_rate_limiting_with_the_pause_it_asks_for():
    error = classify(response("caiso/http429_acceptable_use_policy.html", status=429))
    assert isinstance(error, RateLimitedError) and error.transient and error.retry_after == 5.0


def test_real_7day_outlook_csv_is_refused_clearly_as_a_fuel_mix():
    """Its Time column is a full date and time, not the HH:MM of the daily files: refuse, never guess."""
    data = recorded("caiso/todays_outlook_history_20260311_rtm_forecast_7day.csv").read_bytes()
    with pytest.raises(PayloadValidationError, match="times not in the form HH:MM"):
        read_fuelsource(data, date(2026, 3, 11))


def test_real_zip_member_name_matches_what_we_accept():
    with zipfile.ZipFile(io.BytesIO(recorded(ENE_SLRS).read_bytes())) as archive:
        assert [i.filename for i in archive.infolist()] == [ENE_SLRS.split("/")[1].replace(".zip", ".csv")]
