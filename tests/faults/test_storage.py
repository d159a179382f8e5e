"""Cases 30-35 of the fault catalogue: crashes at every write, disk full, concurrent writers and
re-runs. Crashes are real: a child ``energy run`` kills itself with SIGKILL at a named fault point
(``ENERGY_FAULT``), or is killed from outside at a random moment."""

from __future__ import annotations

import errno
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from energy_core.crash_points import POINTS
from energy_core.errors import StorageError
from energy_core.features import FeatureStore
from energy_core.ingest.cache import RawCache
from energy_core.ingest.catalog import Catalog
from energy_core.storage.lock import StoreLock
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import JAN, run_eia, stored, values
from tests.processes import child_env, energy, energy_command

RUN = ("run", "--source", "eia", "--simulate", "--region", "PACW", "--start", "2024-01-01", "--end", "2024-02-29")
"""Four windows (two months of both EIA datasets), then a feature build: every kind of write."""
CRASH_POINTS = {
    "raw_cached": 30, "validated": 30, "parquet_tmp_written": 30, "parquet_before_close": 30,
    "after_publish_before_manifest": 31, "catalog_before_commit": 31,
    "lance_before_commit": 32, "lance_after_commit_before_manifest": 32,
}


def run_energy(home, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    return energy(*RUN, "--home", str(home), *args, env={"ENERGY_FAULT": fault} if fault else None)


def consistent(home) -> pl.DataFrame:
    """Check what a crash may leave: files open, keys unique, LanceDB at a version its build record
    names, with unique hours. Returns the stored values."""
    frame = values(home)
    if (home / "features").exists():
        store = FeatureStore(home)
        for entity in store.entities():
            _, ts, _, _ = store.arrays(entity)
            assert len(np.unique(ts)) == len(ts), f"{entity}: an hour appears twice"
    return frame


def features(home) -> pl.DataFrame:
    return FeatureStore(home).frame("PACW")


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("clean")
    result = run_energy(home)
    assert result.returncode == 0, result.stderr
    return home


@pytest.mark.parametrize("point", [pytest.param(p, marks=pytest.mark.fault(n)) for p, n in CRASH_POINTS.items()])
def test_f30_f31_f32_a_crash_at_any_write_loses_nothing_and_the_rerun_equals_a_clean_run(tmp_path, clean_home,
                                                                                         point):
    crashed = run_energy(tmp_path, fault=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    consistent(tmp_path)
    catalog = Catalog(tmp_path)
    try:
        assert catalog.runs()[0].status in ("crashed", "ok"), "a killed run never claims to have finished badly"
    finally:
        catalog.close()

    again = run_energy(tmp_path)
    assert again.returncode == 0, again.stderr
    assert consistent(tmp_path).equals(values(clean_home))
    assert features(tmp_path).equals(features(clean_home))
    catalog = Catalog(tmp_path)
    try:
        assert catalog.pending_reasons() == [], "every window is stored, so none is left pending"
    finally:
        catalog.close()
    assert not [p for p in (tmp_path / "processed").rglob(".tmp-*")], "the rerun removed stale temporary files"


def test_every_fault_point_is_exercised():
    assert set(CRASH_POINTS) | {"cache_prune_mid"} == set(POINTS)


@pytest.mark.fault(30)
def test_f30_a_crash_mid_prune_leaves_a_working_cache(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
    cache = RawCache(tmp_path / "raw")
    cache.put("old", namespace="x", request="/old", status=200, content_type="application/json", body=b"{}",
              fetched_at=datetime.now(UTC) - timedelta(days=40))
    cache.close()
    crashed = energy("cache", "prune", "--home", str(tmp_path), env={"ENERGY_FAULT": "cache_prune_mid"})
    assert crashed.returncode == -signal.SIGKILL
    db = sqlite3.connect(tmp_path / "raw" / "responses.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    assert energy("cache", "prune", "--home", str(tmp_path)).returncode == 0
    cache = RawCache(tmp_path / "raw")
    try:
        assert len(cache) == 1 and cache.get("old") is None
    finally:
        cache.close()


def kill_at_random(home, rng: random.Random, longest: float) -> None:
    child = subprocess.Popen(energy_command(*RUN, "--home", str(home)), env=child_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, longest))
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    consistent(home)


@pytest.mark.fault(30)
@pytest.mark.parametrize("iterations", [
    2, pytest.param(15, marks=pytest.mark.slow, id="15 (slow)"),
])
def test_f30_random_sigkills_then_a_rerun_equal_a_clean_run(tmp_path, clean_home, iterations):
    seed = random.SystemRandom().randrange(2**32)
    print(f"random SIGKILL seed: {seed}")  # shown with -s, and by pytest on failure, to reproduce a run
    rng = random.Random(seed)
    for i in range(iterations):
        home = tmp_path / f"run{i % 2}"  # kills land on fresh and on partly written homes
        kill_at_random(home, rng, longest=3.0)
    for home in {tmp_path / f"run{i % 2}" for i in range(iterations)}:
        again = run_energy(home)
        assert again.returncode == 0, f"seed {seed}: {again.stderr}"
        assert consistent(home).equals(values(clean_home)), f"seed {seed}"
        assert features(home).equals(features(clean_home)), f"seed {seed}"


@pytest.mark.fault(33)
def test_f33_a_full_disk_during_a_partition_write_is_a_storage_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
        (partition,) = (tmp_path / "processed").rglob("data.parquet")
        before = partition.read_bytes()
        write = pl.DataFrame.write_parquet

        def disk_full(self, file, **kwargs):
            file.write(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(pl.DataFrame, "write_parquet", disk_full)
        later = (JAN[1], JAN[1] + timedelta(days=3))
        with pytest.raises(StorageError, match="No space left on device.*previous file is unchanged"):
            run_eia(tmp_path, sim, span=later)
        assert partition.read_bytes() == before
        assert not list((tmp_path / "processed").rglob(".tmp-*"))

        monkeypatch.setattr(pl.DataFrame, "write_parquet", write)  # space freed: the cache replays the fetch
        requests = len(sim.requests)
        assert run_eia(tmp_path, sim, span=later).ok
        assert len(sim.requests) == requests, "served from the cache, which the failure did not poison"
    assert stored(tmp_path)["ts"].max() == later[1] - timedelta(hours=1)


@pytest.mark.fault(33)
def test_f33_a_file_size_limit_in_a_real_process_fails_cleanly(tmp_path):
    assert run_energy(tmp_path, "--end", "2024-01-31").returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "processed").rglob("*.parquet")}

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))  # the raw cache and the catalog hit it

    result = subprocess.run(energy_command(*RUN, "--home", str(tmp_path), "--refresh"), env=child_env(),
                            capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "could not write" in result.stderr
    assert {p: p.read_bytes() for p in before} == before
    consistent(tmp_path)
    assert run_energy(tmp_path).returncode == 0


@pytest.mark.fault(34)
def test_f34_two_runs_on_one_home_never_duplicate_a_row(tmp_path, clean_home):
    children = [subprocess.Popen(energy_command(*RUN, "--home", str(tmp_path)), env=child_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(child.wait(timeout=120), child.stderr.read()) for child in children]
    for child in children:
        child.stdout.close()
        child.stderr.close()
    assert any(code == 0 for code, _ in outcomes)
    for code, stderr in outcomes:
        assert code == 0 or "locked by pid" in stderr, stderr
    assert consistent(tmp_path).equals(values(clean_home))


@pytest.mark.fault(34)
def test_f34_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    lock = tmp_path / "processed" / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from energy_core.storage.lock import "
         f"StoreLock; held = StoreLock(Path({str(lock)!r})).__enter__(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(StorageError, match=f"locked by pid {holder.pid}"), StoreLock(lock):
        pass
    holder.kill()
    holder.wait()
    holder.stdout.close()
    with StoreLock(lock):  # the OS dropped the dead holder's lock; its pid note is replaced
        assert lock.read_text() == f"pid {os.getpid()}"


@pytest.mark.fault(34)
def test_f34_feature_builds_take_turns(tmp_path):
    """LanceDB's own concurrent merge_insert can duplicate keys (Lance issue 4585); energy never
    lets two builds write one home's feature store at once."""
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
    with StoreLock(tmp_path / ".features.lock"), pytest.raises(StorageError, match="locked by pid"):
        FeatureStore(tmp_path).build(["PACW"])
    FeatureStore(tmp_path).build(["PACW"])


@pytest.mark.fault(35)
def test_f35_a_repeated_command_is_a_cache_hit_and_an_overlapping_one_merges_by_key(tmp_path):
    january = ("--end", "2024-01-31")
    first = run_energy(tmp_path, *january)
    files = {p: p.read_bytes() for p in sorted((tmp_path / "processed").rglob("*.parquet"))}
    second = run_energy(tmp_path, *january)  # incremental: the store holds January, nothing is fetched
    assert second.returncode == 0 and "0 rows new or changed" in second.stdout
    assert "skipped: 2 window(s) already stored" in second.stdout
    replay = run_energy(tmp_path, *january, "--lookback", "36500")  # treat January as revisable: the cache answers
    assert replay.returncode == 0 and "0 rows new or changed" in replay.stdout
    assert re.search(r"requests eia: 0 sent, [1-9]\d* cache hits", replay.stdout)
    assert {p: p.read_bytes() for p in files} == files and first.returncode == 0
    third = run_energy(tmp_path, "--start", "2024-01-15", "--end", "2024-02-15")  # overlaps January
    assert third.returncode == 0, third.stderr
    frame = consistent(tmp_path)
    assert frame["ts"].min() == datetime(2024, 1, 1, tzinfo=UTC)
    assert frame["ts"].max() == datetime(2024, 2, 15, 23, tzinfo=UTC)
