"""The example plugin's own tests: its parsing, its normalizer, and energy's conformance kit."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from energy_example.normalize import ExampleNormalizer
from energy_example.source import parse

from energy_core.api import HttpResponse, PayloadValidationError, RawBatch, Window, validate_observations
from energy_core.testing import check_source

BODY = (b'{"zone": "PACW", "unit": "gCO2/kWh", "data": [{"from": "2024-01-01T00:00Z", "to": "2024-01-01T01:00Z", '
        b'"actual": 312.5, "forecast": null}]}')


def test_an_answer_becomes_two_canonical_series_at_the_hour_start():
    rows = parse(HttpResponse(200, "application/json", BODY, "r"))
    window = Window("example", "example.intensity", datetime(2024, 1, 1, tzinfo=UTC),
                    datetime(2024, 1, 2, tzinfo=UTC), ("PACW",))
    out = validate_observations(ExampleNormalizer().normalize(RawBatch(window, rows, datetime.now(UTC))))
    assert out.sort("series").select("ts", "series", "value").rows() == [
        (datetime(2024, 1, 1, tzinfo=UTC), "carbon_intensity", 312.5),
        (datetime(2024, 1, 1, tzinfo=UTC), "carbon_intensity_forecast", None),
    ]


def test_a_missing_field_names_it():
    with pytest.raises(PayloadValidationError, match="unit"):
        parse(HttpResponse(200, "application/json", BODY.replace(b'"unit": "gCO2/kWh", ', b""), "r"))


def test_the_plugin_meets_energys_contract(tmp_path):
    result = check_source("example", tmp_path, start=datetime(2024, 1, 1, tzinfo=UTC),
                          end=datetime(2024, 2, 1, tzinfo=UTC), regions=("PACW", "CISO"))
    assert result.stored.filter(pl.col("series") == "carbon_intensity").height == 2 * 31 * 24
