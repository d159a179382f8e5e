"""The conformance kit (energy_core.testing.check_source) passes for every built-in source, and
catches a source that breaks the contract."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from energy_core.testing import check_source
from energy_eia.normalize import EiaNormalizer

SPAN = {"start": datetime(2024, 1, 1, tzinfo=UTC), "end": datetime(2024, 1, 3, tzinfo=UTC)}


@pytest.mark.parametrize(("source", "regions", "datasets"), [
    ("eia", ("PACW",), ()),
    ("caiso", (), ("caiso.load", "caiso.fuelmix")),
    ("weather", ("PACW",), ("weather.hourly",)),
])
def test_built_in_sources_conform(tmp_path, source, regions, datasets):
    result = check_source(source, tmp_path, regions=regions, datasets=datasets, **SPAN)
    assert result.stored.height > 0


def test_a_normalizer_that_stamps_half_hours_is_caught(tmp_path, monkeypatch):
    original = EiaNormalizer.normalize

    def shifted(self, batch):
        return original(self, batch).with_columns(pl.col("ts") + pl.duration(minutes=30))

    monkeypatch.setattr(EiaNormalizer, "normalize", shifted)
    with pytest.raises(AssertionError, match="UTC hour starts"):
        check_source("eia", tmp_path, regions=("PACW",), datasets=("eia.region",), **SPAN)
