from __future__ import annotations

from datetime import UTC, datetime

import pytest

from energy_core.features import FeatureStore, Splits
from energy_core.ingest.runner import RunConfig, run


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Forty days of simulated EIA-930 data for PACW, ingested (so the build names its runs) and built."""
    home = tmp_path_factory.mktemp("mlflow")
    report = run(RunConfig(sources=("eia",), start=datetime(2024, 1, 1, tzinfo=UTC),
                           end=datetime(2024, 2, 10, tzinfo=UTC), home=home, regions=("PACW",),
                           datasets=("eia.region",), simulate=True))
    assert report.ok
    FeatureStore(home).build(["PACW"], splits=Splits(datetime(2024, 1, 28, tzinfo=UTC),
                                                     datetime(2024, 2, 3, tzinfo=UTC)))
    return home
