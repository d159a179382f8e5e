from __future__ import annotations

import pytest

from energy_core.blas import load_openblas
from energy_core.testing import FakeTime
from tests.scripted import ScriptedServer

load_openblas()  # before any test module imports mlx.core, as energy does itself: the ML tests run on OpenBLAS


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sleeps(fake_time) -> list[float]:
    return fake_time.sleeps
