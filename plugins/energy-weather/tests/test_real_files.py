"""Every recorded Open-Meteo body in tests/data/open_meteo/ parses, or fails clearly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from energy_weather.parse import parse_locations
from energy_weather.points import Point

from energy_core.errors import PayloadValidationError
from energy_core.plugin.interfaces import HttpResponse
from tests.recorded import recorded

POINT = Point("TEST.enschede", 52.27, 6.82, 1.0)


def response(name: str) -> HttpResponse:
    return HttpResponse(200, "application/json", recorded(f"open_meteo/{name}").read_bytes(), f"recorded:{name}")


def test_archive_body_in_local_time_is_turned_into_utc_with_its_offset():
    rows = parse_locations(response("historical_weather.json"), [POINT], ["temperature_2m", "wind_speed_10m"])
    temperature = rows.filter(variable="temperature_2m").sort("stamp")
    # "1953-01-31T00:00" at utc_offset_seconds 7200 is 1953-01-30 22:00 UTC
    assert temperature["stamp"].to_list()[0] == datetime(1953, 1, 30, 22, tzinfo=UTC)
    assert temperature["value"].to_list() == [5.8, 5.5, 5.1] and set(temperature["unit"]) == {"degC"}
    assert set(rows.filter(variable="wind_speed_10m")["unit"]) == {"km/h"}


def test_historical_forecast_body_parses():
    rows = parse_locations(response("historical_forecast.json"), [POINT], ["temperature_2m"])
    assert rows["value"].to_list() == [7.9, 8.1, 8.0]
    assert rows["stamp"].min() == datetime(2023, 12, 31, 22, tzinfo=UTC)


def test_daily_only_body_has_no_hourly_axis_to_give():
    with pytest.raises(PayloadValidationError, match="no hourly time axis"):
        parse_locations(response("historical_weather_models.json"), [POINT], ["temperature_2m"])


def test_metadata_only_body_is_empty_when_nothing_was_asked_and_an_error_when_something_was():
    assert parse_locations(response("forecast_minimal.json"), [POINT], []).height == 0
    with pytest.raises(PayloadValidationError, match="no hourly time axis"):
        parse_locations(response("forecast_minimal.json"), [POINT], ["temperature_2m"])


def test_nan_coordinates_are_a_clear_coverage_error():
    with pytest.raises(PayloadValidationError, match="outside the model's coverage"):
        parse_locations(response("satellite_radiation_not_covered.txt"), [POINT], ["shortwave_radiation"])
