"""Homes the tests build the way a user would: data ingested through a simulator, features built."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from energy_core.features import FeatureStore, Splits
from energy_core.ingest.config import RunConfig
from energy_core.ingest.runner import run


def forty_days_of_pacw(home: Path) -> Path:
    """Forty days of simulated EIA-930 demand for PACW, ingested (so the build names its runs) and built,
    with a week to validate and a week to test."""
    report = run(RunConfig(sources=("eia",), start=datetime(2024, 1, 1, tzinfo=UTC),
                           end=datetime(2024, 2, 10, tzinfo=UTC), home=home, regions=("PACW",),
                           datasets=("eia.region",), simulate=True))
    assert report.ok
    FeatureStore(home).build(["PACW"], splits=Splits(datetime(2024, 1, 28, tzinfo=UTC),
                                                     datetime(2024, 2, 3, tzinfo=UTC)))
    return home
