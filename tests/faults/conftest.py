"""Shared pieces of the fault suite: a fault-scripted EIA simulator, runs against it, and the
invariants every case checks (every committed file opens, no key twice, earlier data intact)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pyarrow.parquet as pq
import pytest
from energy_caiso.simulator import CaisoSimulator
from energy_weather.simulator import WeatherSimulator

from energy_core.ingest.cache import RawCache
from energy_core.ingest.client import HttpClient
from energy_core.ingest.report import RunReport
from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.plugin.interfaces import RateBudget, SourceContext
from energy_core.plugin.simulator import SimRequest, SimResponse, Simulator
from energy_core.storage.lake import Lake
from energy_core.storage.revisions import SUPERSEDED_AT
from energy_core.storage.schema import COLUMNS, KEY
from energy_core.testing import FakeTime, http_client
from energy_eia.simulator import EiaSimulator
from energy_eia.source import EiaSource

JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 4, tzinfo=UTC))
"""Three days of one BA's region data: one window, one page."""
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05)


Fault = SimResponse | Callable[[SimResponse], SimResponse]
"""A scripted answer, or a change to the simulator's real answer (truncate it, edit its body)."""


def faulty(base: type[Simulator]) -> type[Simulator]:
    """``base`` answering its first requests from a script of faults, then normally."""

    class Faulty(base):
        def __init__(self, *script: Fault, **kwargs) -> None:
            super().__init__(**kwargs)
            self.script = list(script)

        def handle(self, request: SimRequest) -> SimResponse:
            if not self.script:
                return super().handle(request)
            fault = self.script.pop(0)
            return fault(super().handle(request)) if callable(fault) else fault

    Faulty.__name__ = f"Faulty{base.__name__}"
    return Faulty


class FaultyEia(faulty(EiaSimulator)):
    def __init__(self, *script: Fault, **kwargs) -> None:
        kwargs.setdefault("respondents", ("PACW",))
        super().__init__(*script, **kwargs)


class FaultyCaiso(faulty(CaisoSimulator)):
    def __init__(self, *script: Fault, **kwargs) -> None:
        kwargs.setdefault("min_interval_s", 0.0)  # its own throttle would add 5 s pauses to every retry
        super().__init__(*script, **kwargs)


FaultyWeather = faulty(WeatherSimulator)


def edit_json(change: Callable[[dict], None]) -> Callable[[SimResponse], SimResponse]:
    """A fault that edits the real answer's JSON body."""

    def apply(real: SimResponse) -> SimResponse:
        body = orjson.loads(real.body)
        change(body)
        return replace(real, body=orjson.dumps(body))

    return apply


def json_response(status: int, body: bytes | str, **headers: str) -> SimResponse:
    body = body.encode() if isinstance(body, str) else body
    return SimResponse(status, body, {"Content-Type": "application/json", **headers})


def run_eia(home: Path, sim: EiaSimulator, *, span=JAN, retry: RetryPolicy = FAST, env: dict | None = None,
            **config) -> RunReport:
    """One ``energy run --source eia --region PACW --dataset eia.region`` against ``sim``."""
    return run(RunConfig(sources=("eia",), start=span[0], end=span[1], home=home, regions=("PACW",),
                         datasets=("eia.region",), env={**sim.env(), **(env or {})}, retry=retry, **config))


def run_caiso(home: Path, sim: CaisoSimulator, span=JAN, datasets=("caiso.load",)) -> RunReport:
    """A CAISO run at the simulator's pace (the real OASIS budget allows one request per 5 s)."""
    return run(RunConfig(sources=("caiso",), start=span[0], end=span[1], home=home, datasets=datasets,
                         env=sim.env(), retry=FAST, budgets={"caiso": RateBudget(100, burst=10)}))


def run_weather(home: Path, sim: WeatherSimulator, span) -> RunReport:
    return run(RunConfig(sources=("weather",), start=span[0], end=span[1], home=home, regions=("PACW",),
                         datasets=("weather.hourly",), env=sim.env(), retry=FAST))


@pytest.fixture
def eia_source(fake_time: FakeTime):
    """Makes the real EIA source and HTTP client, with a cache under a folder and a fake clock (no
    real sleeps); closes them after the test."""
    made: list[HttpClient] = []

    def make(sim: EiaSimulator, home: Path, fake_time: FakeTime = fake_time, **http) -> EiaSource:
        http.setdefault("retry", RetryPolicy(max_attempts=4))
        client = http_client("eia", EiaSource.budget, cache=RawCache(home / "raw"), seed=0, sleep=fake_time.sleep,
                             clock=fake_time.clock, **http)
        made.append(client)
        return EiaSource(SourceContext(http=client, env=sim.env()))

    yield make
    for client in made:
        client.close()
        client.cache.close()


def stored(home: Path) -> pl.DataFrame:
    """Every stored observation (each key's latest value), in key order, after checking the lake's
    invariants: every data file a table's current version names opens, no key has two current values
    and no revision is stored twice."""
    lake = Lake(home)
    for dataset in lake.datasets():
        table = lake.table(dataset)
        for uri in table.file_uris() if table is not None else []:
            pq.read_metadata(uri)  # the footer is whole
    revisions = lake.revisions().collect()
    latest = revisions.filter(pl.col(SUPERSEDED_AT).is_null())
    assert latest.select(KEY).is_duplicated().sum() == 0, "a key has two current values"
    assert revisions.select(*KEY, "retrieved_at").is_duplicated().sum() == 0, "a revision is stored twice"
    return latest.select(COLUMNS).sort(KEY)


def unreferenced(home: Path) -> list[Path]:
    """The files in the lake's partition folders that no commit of any version ever added: what a writer
    that was killed, or lost a commit race, leaves behind."""
    unnamed = []
    for table in Path(Lake(home).root).glob("*/_delta_log"):
        added = {orjson.loads(line)["add"]["path"] for log in table.glob("*.json")
                 for line in log.read_bytes().splitlines() if line.startswith(b'{"add"')}
        files = [f.relative_to(table.parent) for f in table.parent.rglob("*") if f.is_file()]
        unnamed += [table.parent / f for f in files if f.parts[0] != "_delta_log" and f.as_posix() not in added]
    return sorted(unnamed)


def values(home: Path) -> pl.DataFrame:
    """The stored data without its knowledge times, to compare runs made at different moments."""
    return stored(home).drop("retrieved_at")


@pytest.fixture
def clean(tmp_path) -> pl.DataFrame:
    """What a fault-free run of :data:`JAN` stores."""
    with EiaSimulator(respondents=("PACW",)) as sim:
        report = run_eia(tmp_path / "clean", sim)
    assert report.ok
    return values(tmp_path / "clean")
