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


@pytest.fixture(scope="session")
def s3():
    """moto's S3 server on 127.0.0.1 for the whole session (each test takes its own bucket)."""
    from tests.s3 import LoopbackS3

    server = LoopbackS3()
    yield server
    server.stop()


@pytest.fixture
def s3_home(s3, tmp_path, monkeypatch):
    """A home whose lake is a fresh bucket on the loopback S3 server (the AWS variables point at it)."""
    from energy_core.home import LOCAL_HOME_VARIABLE, Home

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(LOCAL_HOME_VARIABLE, str(tmp_path / "local"))
    return Home.of(f"s3://{s3.new_bucket()}/team")


@pytest.fixture(params=["local", "s3"])
def lake_home(request, tmp_path):
    """A home whose lake is a local folder, then one whose lake is a bucket on the loopback S3 server."""
    from energy_core.home import Home

    return Home(tmp_path / "home") if request.param == "local" else request.getfixturevalue("s3_home")
