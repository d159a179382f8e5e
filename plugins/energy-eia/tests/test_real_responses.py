"""Every recorded EIA body in tests/data/eia/ parses (or fails) the way the real API means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from energy_core.errors import AuthError, InvalidRequestError
from energy_core.plugin.interfaces import HttpResponse, Window
from energy_eia.codes import ROUTES
from energy_eia.normalize import EiaNormalizer
from energy_eia.parse import classify, parse_page
from energy_eia.source import assemble_window
from tests.recorded import recorded

PAGES = [
    ("region-data_PACW_D_2023-01-01_2023-01-08_total169.json", "eia.region", 169),
    ("region-data_PACW_D_2024-01-01_2024-01-07_total145.json", "eia.region", 145),
    ("fuel-type-data_PACW_2023-01-01_2023-01-08_total845.json", "eia.fuel", 845),
    ("fuel-type-data_PACW_2024-01-01_2024-01-07_total725.json", "eia.fuel", 725),
]


def response(name: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, "application/json", recorded(f"eia/{name}").read_bytes(), f"recorded:{name}")


@pytest.mark.parametrize(("name", "dataset", "total"), PAGES)
def test_recorded_pages_parse_completely(name, dataset, total):
    page = parse_page(response(name), ROUTES[dataset])
    assert page.total == total == page.rows.height
    assert page.rows["value"].null_count() == 0
    assert page.rows["respondent"].unique().to_list() == ["PACW"]
    assert page.warnings == ()


def normalized(name: str, dataset: str):
    """A recorded page through the same steps a fetched one takes."""
    route = ROUTES[dataset]
    window = Window("eia", dataset, datetime(2022, 12, 31, 23, tzinfo=UTC), datetime(2023, 1, 8, tzinfo=UTC))
    batch = assemble_window(route, window, [parse_page(response(name), route)], datetime(2025, 7, 3, tzinfo=UTC))
    assert batch.warnings == ()
    return EiaNormalizer().normalize(batch)


def test_hour_ending_period_becomes_interval_start():
    out = normalized(PAGES[0][0], "eia.region")
    first = out.sort("ts").row(0, named=True)
    # period "2023-01-01T00" ends the hour 23:00-00:00 on Dec 31 (UTC), value 2455
    assert first["ts"] == datetime(2022, 12, 31, 23, tzinfo=UTC) and first["value"] == 2455.0
    assert set(out["series"]) == {"demand"} and set(out["unit"]) == {"MWh"}


def test_recorded_fuel_mix_maps_codes_and_keeps_negative_wind():
    out = normalized(PAGES[2][0], "eia.fuel")
    assert set(out["series"]) == {"gen.gas", "gen.other", "gen.solar", "gen.hydro", "gen.wind"}
    wind = out.filter(series="gen.wind")["value"]
    assert (wind < 0).sum() == 47 and wind.min() == -3.0


def test_recorded_invalid_key_is_a_terminal_auth_error_naming_the_variable():
    error = classify(response("error_http403_API_KEY_INVALID.json", 403))
    assert isinstance(error, AuthError) and not error.transient
    assert "EIA rejected the API key (HTTP 403, API_KEY_INVALID): set a valid key in EIA_API_KEY" in str(error)


def test_recorded_not_found_with_http_500_is_not_retried():
    error = classify(response("error_wholesale-prices_http500_not_found.json", 500))
    assert isinstance(error, InvalidRequestError) and not error.transient
    assert "Not found." in str(error)
