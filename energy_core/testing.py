"""Helpers for plugin test suites, and the conformance kit every source plugin's tests can call.

``check_source("mysource", tmp_path)`` runs the installed source through the real pipeline against
its own simulator and checks the plugin contract:

- it is registered through the ``energy`` entry points with a normalizer, datasets and a simulator;
- what it stores passes the canonical schema, with UTC hour starts and only its declared datasets;
- a second run of the same range (through the raw cache) changes no byte of the store;
- when its service cannot be reached, every window fails with an ``EnergyError`` (the run goes on);
- no secret its simulator hands it (``*_KEY``, ``*_TOKEN``, ...) appears under the data folder, in
  the report or in the logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import polars as pl

from energy_core.ingest.cache import RawCache
from energy_core.ingest.client import FetchMode, HttpClient, HttpSettings
from energy_core.ingest.redaction import secrets_in
from energy_core.ingest.report import RunReport, WindowStatus
from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.plugin.interfaces import Budget
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import Registry, declared_settings
from energy_core.storage.lake import Lake
from energy_core.storage.schema import validate_observations

_FAST = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02)


class FakeTime:
    """A clock for :class:`energy_core.ingest.client.HttpClient` (``sleep=``, ``clock=``) that advances
    instead of sleeping and records every wait, so budgets and backoff are checked without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def http_client(source: str, budget: Budget, *, mode: FetchMode = FetchMode.NORMAL, cache: RawCache | None = None,
                transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic, **settings: Any) -> HttpClient:
    """An :class:`~energy_core.ingest.client.HttpClient` for a test, in one call: ``settings`` are
    :class:`~energy_core.ingest.client.HttpSettings` fields (``retry``, ``seed``, ``max_body_bytes``,
    ``timeout``, ``budget_override``, ``cache_namespace``). Close it after the test."""
    return HttpClient(source, HttpSettings(budget=budget, **settings), mode=mode, cache=cache, transport=transport,
                      sleep=sleep, clock=clock)


@dataclass(frozen=True)
class Conformance:
    report: RunReport
    stored: pl.DataFrame


def check_source(name: str, folder: Path, *, start: datetime, end: datetime, regions: tuple[str, ...] = (),
                 datasets: tuple[str, ...] = ()) -> Conformance:
    """Check the contract of the installed source ``name`` (see the module docstring); raise
    ``AssertionError`` naming the first breach. ``folder`` is scratch space (a ``tmp_path``)."""
    plugins = get_plugin_manager()
    source = Registry(plugins).source(name)
    assert source.normalizer and source.datasets, f"source {name!r} must declare a normalizer and datasets"
    simulator = source.simulator(os.environ)
    assert simulator is not None, f"source {name!r} needs a simulator (Source.simulator) to be tested offline"
    with simulator, _captured_logs() as logs:
        declared = {setting.variable for setting in declared_settings(plugins) if setting.secret}
        secrets = [*secrets_in(simulator.env()), *(v for k, v in simulator.env().items() if k in declared and v)]

        def config(home: Path, **changes: str) -> RunConfig:
            return RunConfig(sources=(name,), start=start, end=end, home=home, regions=regions, datasets=datasets,
                             env={**simulator.env(), **changes}, retry=_FAST, resume=False,
                             budgets={name: simulator.budget} if simulator.budget else {})

        home = folder / "home"
        report = run(config(home))
        assert report.ok, f"{name}: windows failed against the simulator: {[w.error for w in report.failed]}"
        assert report.rows_stored > 0, f"{name}: the simulator's data stored no rows"
        stored = _check_store(name, home, source.datasets)
        versions = Lake(home).versions()
        again = run(replace(config(home), incremental=False))
        assert again.ok and again.rows_stored == 0, f"{name}: a second run of the same range changed the store"
        assert Lake(home).versions() == versions, f"{name}: a second run committed to the store"

        unreachable = {k: urlsplit(v)._replace(netloc="127.0.0.1:9").geturl()  # port 9: nothing listens
                       for k, v in simulator.env().items() if v.startswith("http://127.0.0.1")}
        down = run(config(folder / "down", **unreachable))
        assert down.windows and all(w.status in (WindowStatus.FAILED, WindowStatus.SKIPPED) and w.error
                                    for w in down.windows), \
            f"{name}: with its service unreachable every window must fail with an EnergyError"
    texts = ["\n".join(logs), json.dumps(report.to_json(), default=str), json.dumps(down.to_json(), default=str)]
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        leaked = [str(p) for p in folder.rglob("*") if p.is_file() and any(f.encode() in p.read_bytes() for f in forms)]
        leaked += [f"report or log {i}" for i, text in enumerate(texts) if any(f in text for f in forms)]
        assert not leaked, f"{name}: a secret from its simulator's environment leaked into {leaked}"
    return Conformance(report, stored)


def _check_store(name: str, home: Path, declared: Iterable[str]) -> pl.DataFrame:
    stored = Lake(home).scan().collect()
    validate_observations(stored, producer=f"the store written by {name!r}")
    assert set(stored["source"]) == {name}, f"{name}: rows name other sources: {set(stored['source'])}"
    assert set(stored["dataset"]) <= set(declared), f"{name}: undeclared datasets {set(stored['dataset'])}"
    off_hour = stored.filter((pl.col("ts").dt.minute() != 0) | (pl.col("ts").dt.second() != 0))
    assert off_hour.height == 0, f"{name}: timestamps must be UTC hour starts, e.g. {off_hour['ts'][0]}"
    return stored


@contextlib.contextmanager
def _captured_logs() -> Iterator[list[str]]:
    """Every log record (DEBUG included) while checking, to search for secrets."""
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Capture(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def loopback_hostfile(path: Path, ranks: int) -> Path:
    """Write the hostfile of an ``mx.distributed`` ring backend whose ``ranks`` all listen on 127.0.0.1,
    each on a port free right now (one list of ``address:port`` per rank), and return ``path``."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(ranks)]
    with contextlib.ExitStack() as stack:
        for s in sockets:
            stack.enter_context(s)
            s.bind(("127.0.0.1", 0))
        ports = [s.getsockname()[1] for s in sockets]
    path.write_text(json.dumps([[f"127.0.0.1:{port}"] for port in ports]))
    return path
