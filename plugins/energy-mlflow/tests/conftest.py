from __future__ import annotations

import pytest

from tests.homes import forty_days_of_pacw


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Forty days of simulated EIA-930 data for PACW, ingested (so the build names its runs) and built."""
    return forty_days_of_pacw(tmp_path_factory.mktemp("mlflow"))
