"""Ctrl-C and SIGTERM: the first signal lets the windows in progress finish and be recorded, the
second stops at once; either way what was stored stays stored and the next run resumes the rest."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator

import polars as pl
import pytest

from energy_core.ingest.catalog import Catalog
from energy_core.plugin.simulator import Throttle
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import values
from tests.processes import child_env, energy, energy_command

RUN = ("run", "--source", "eia", "--dataset", "eia.region", "--no-features")
FOUR_YEARS = ("--start", "2021-01-01", "--end", "2024-12-31")
"""48 windows of one page each (a run naming no region asks for every BA a month at a time; the simulator
knows one), three times what a source fetches at once: many are not started when a signal comes, however
late the child gets to handle it."""


@contextlib.contextmanager
def slow_run(home, timeout: float = 60) -> Iterator[subprocess.Popen]:
    """An `energy run` child against a slow simulator, handed over once its third request is in."""
    with EiaSimulator(respondents=("PACW",), throttle=Throttle(latency_s=0.3)) as sim:
        child = subprocess.Popen(energy_command(*RUN, *FOUR_YEARS, "--home", str(home)), env=child_env(sim.env()),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while len(sim.requests) < 3:
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
        yield child


def until_line(child: subprocess.Popen, text: str) -> str:
    """The child's standard error up to the first line holding ``text`` (all of it if the child ends first).

    A second signal is sent only once the first was taken: two signals pending at once are handled in the
    order of their numbers, whichever came first."""
    assert child.stderr is not None
    read = ""
    while text not in read and (line := child.stderr.readline()):
        read += line
    return read


def pending(home) -> int:
    catalog = Catalog(home)
    try:
        return len(catalog.pending_reasons())
    finally:
        catalog.close()


@pytest.fixture(scope="module")
def clean_values(tmp_path_factory) -> pl.DataFrame:
    """What an uninterrupted run stores (one run for the module's tests)."""
    home = tmp_path_factory.mktemp("clean")
    with EiaSimulator(respondents=("PACW",)) as sim:
        result = energy(*RUN, *FOUR_YEARS, "--home", str(home), env=sim.env())
    assert result.returncode == 0, result.stderr
    return values(home)


def test_first_ctrl_c_finishes_the_current_windows_records_them_and_the_next_run_resumes(tmp_path, clean_values):
    home = tmp_path / "home"
    with slow_run(home) as child:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "report:" in out, "the summary and report are written before exiting"
    assert "finishing the windows in progress" in err and "stopped by signal 2" in err
    report = json.loads(next((home / "runs").glob("*.json")).read_text())
    statuses = [w["status"] for w in report["windows"]]
    assert "ok" in statuses and "interrupted" in statuses and set(statuses) <= {"ok", "interrupted"}
    assert pending(home) == statuses.count("interrupted")
    kept = values(home)
    assert kept.height > 0

    assert statuses[0] == "ok", "the first window started first, and a first signal lets it finish"
    with EiaSimulator(respondents=("PACW",)) as sim:  # a run over that first month alone picks up the rest
        result = energy(*RUN, "--start", "2021-01-01", "--end", "2021-01-31", "--home", str(home), env=sim.env())
    assert result.returncode == 0, result.stderr
    assert f"resumed: {statuses.count('interrupted')} window(s)" in result.stdout
    assert pending(home) == 0
    assert values(home).equals(clean_values)


def test_a_second_signal_stops_at_once_and_loses_nothing_stored(tmp_path, clean_values):
    home = tmp_path / "home"
    with slow_run(home) as child:
        child.send_signal(signal.SIGTERM)
        taken = until_line(child, "finishing the windows in progress")
        child.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = child.communicate(timeout=120)
    assert child.returncode == 130 and time.monotonic() - started < 2, taken + err
    assert "stopping now" in err
    assert pending(home) == 48, "nothing was recorded as stored, so every window is still pending"
    values(home)  # whatever reached the store is whole and unique

    with EiaSimulator(respondents=("PACW",)) as sim:
        result = energy(*RUN, *FOUR_YEARS, "--home", str(home), env=sim.env())
    assert result.returncode == 0, result.stderr
    assert values(home).equals(clean_values)
