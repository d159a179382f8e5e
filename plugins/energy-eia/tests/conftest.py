from __future__ import annotations

import pytest

from energy_core.ingest.client import HttpClient
from energy_core.ingest.retry import RetryPolicy
from energy_core.plugin.interfaces import SourceContext
from energy_core.testing import http_client
from energy_eia.simulator import EiaSimulator
from energy_eia.source import EiaSource


@pytest.fixture
def sim():
    with EiaSimulator(respondents=("PACW", "CISO", "ERCO")) as simulator:
        yield simulator


@pytest.fixture
def make_source(tmp_path):
    """EiaSource pointed at a simulator, with retries that record waits instead of sleeping."""
    clients: list[HttpClient] = []

    def make(simulator: EiaSimulator, *, cache=None, env=None, **http) -> EiaSource:
        http.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.01))
        http.setdefault("sleep", lambda seconds: None)
        client = http_client("eia", EiaSource.budget, cache=cache, seed=0, **http)
        clients.append(client)
        return EiaSource(SourceContext(http=client, env={**simulator.env(), **(env or {})}))

    yield make
    for client in clients:
        client.close()
