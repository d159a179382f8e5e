from __future__ import annotations

import pytest

from tests.homes import forty_days_of_pacw


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Forty days of simulated EIA-930 data for PACW, ingested (so the build names its runs) and built."""
    return forty_days_of_pacw(tmp_path_factory.mktemp("wandb"))


@pytest.fixture
def wandb_env(tmp_path) -> dict[str, str]:
    """W&B kept inside the test's folder: its runs, settings, cache and staged artifacts."""
    return {"WANDB_DIR": str(tmp_path / "wandb"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
            "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"), "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
            "WANDB_SILENT": "true", "WANDB_PROJECT": "energy-tests", "HOME": str(tmp_path),
            "NETRC": str(tmp_path / "no.netrc")}
