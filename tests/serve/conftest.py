"""A home with stored data, a built entity and a trained tiny model, and the server over it on 127.0.0.1.

The home is built once through the real pipeline (simulated EIA-930 for PACW, the feature build, one
epoch of training: about 3 s); each test gets its own copy, since serving writes the issued-forecast log
and some tests add data. The server is uvicorn itself, in a thread of the test process, on a socket
bound to a free loopback port.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from energy_core.features import FeatureStore, Splits
from energy_core.ingest.runner import RunConfig, run
from energy_core.serve.app import create_app
from energy_core.serve.live import LiveService
from energy_core.serve.settings import ServeSettings
from tests.processes import ROOT, child_env, energy_command

ENTITY = "PACW"
TINY = {"epochs": 1, "seq_len": 72, "stride": 12, "batch_size": 8, "d_model": 16, "n_heads": 2, "n_layers": 1}


def store_days(home: Path, start: datetime, end: datetime) -> None:
    """Simulated EIA-930 region data for PACW over [start, end), stored by the real runner."""
    report = run(RunConfig(sources=("eia",), start=start, end=end, home=home, regions=(ENTITY,),
                           datasets=("eia.region",), simulate=True))
    assert report.ok, report.failed


def train_tiny(home: Path, seed: int = 0) -> None:
    from energy_core.ml import TrainConfig, train

    train(FeatureStore(home), TrainConfig(entity=ENTITY, seed=seed, **TINY), home / "models" / ENTITY,
          progress=lambda _: None)


@pytest.fixture(scope="session")
def built_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("serve") / "home"
    store_days(home, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 10, tzinfo=UTC))
    FeatureStore(home).build([ENTITY], splits=Splits(datetime(2024, 1, 28, tzinfo=UTC),
                                                     datetime(2024, 2, 3, tzinfo=UTC)))
    train_tiny(home)
    return home


@pytest.fixture
def home(built_home, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built_home, copy)
    return copy


@dataclass
class Server:
    url: str
    app: FastAPI

    @property
    def live(self) -> LiveService:
        return self.app.state.energy.live

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)


@contextlib.contextmanager
def serving(settings: ServeSettings) -> Iterator[Server]:
    """The app under uvicorn in a thread, on a free port of 127.0.0.1, until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{listener.getsockname()[1]}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture
def serve(home) -> Iterator[Callable[..., Server]]:
    """``serve(**settings)`` starts a server over ``home`` (stopped when the test ends)."""
    with contextlib.ExitStack() as stack:
        yield lambda **settings: stack.enter_context(serving(ServeSettings(home=home, **settings)))


@pytest.fixture
def server(serve) -> Server:
    return serve()


@dataclass
class Process:
    url: str
    process: subprocess.Popen
    output: list[str]
    """Every line it wrote to stdout and stderr, once it has stopped."""


@contextlib.contextmanager
def serve_command(home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    """``energy serve --port 0`` over ``home`` in a child process, the way a user runs it; stopped with
    SIGTERM (as a service manager does) when the block ends."""
    command = energy_command(*args[:args.index("serve") + 1], "--home", str(home), "--port", "0",
                             *args[args.index("serve") + 1:])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                               env=child_env(env))
    lines: list[str] = []
    drain = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)  # never let the pipe fill
    drain.start()
    deadline = time.monotonic() + 60
    while not (found := re.search(r"at (http://127\.0\.0\.1:\d+)/", "".join(lines))):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            drain.join(timeout=10)
            assert process.stdout is not None
            process.stdout.close()
            raise AssertionError("energy serve did not start:\n" + "".join(lines))
        time.sleep(0.05)
    served = Process(found.group(1), process, lines)
    try:
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        drain.join(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
