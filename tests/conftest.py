from __future__ import annotations

import pytest

from tests.scripted import ScriptedServer


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


class FakeTime:
    """Records the waits an HttpClient asks for and advances a fake clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sleeps(fake_time) -> list[float]:
    return fake_time.sleeps
