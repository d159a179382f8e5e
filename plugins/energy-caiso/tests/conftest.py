from __future__ import annotations

import pytest
from energy_caiso.simulator import CaisoSimulator
from energy_caiso.source import CaisoSource

from energy_core.ingest.client import HttpClient
from energy_core.ingest.retry import RetryPolicy
from energy_core.plugin.interfaces import SourceContext
from energy_core.testing import FakeTime, http_client


@pytest.fixture
def sim():
    with CaisoSimulator() as simulator:
        yield simulator


@pytest.fixture
def make_source():
    """CaisoSource pointed at a simulator, with its budget and retries, waits recorded not slept."""
    clients: list[HttpClient] = []

    def make(simulator: CaisoSimulator, *, cache=None, **http) -> CaisoSource:
        http.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.01))
        http.setdefault("sleep", lambda seconds: None)
        http.setdefault("budget_override", simulator.budget)
        client = http_client("caiso", CaisoSource.budget, cache=cache, seed=0, **http)
        clients.append(client)
        return CaisoSource(SourceContext(http=client, env=simulator.env()))

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def fake_clock() -> FakeTime:
    return FakeTime()
