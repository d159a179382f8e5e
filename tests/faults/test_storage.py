"""Cases 30-35 of the fault catalogue: crashes at every write, files a writer leaves or loses, disk full,
concurrent writers and re-runs. Crashes are real: a child ``energy run`` kills itself with SIGKILL at a
named fault point (``ENERGY_FAULT``), or is killed from outside at a random moment."""

from __future__ import annotations

import contextlib
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from energy_core.crash_points import POINTS
from energy_core.errors import StorageError
from energy_core.features import FeatureStore
from energy_core.home import Home
from energy_core.ingest.cache import RawCache
from energy_core.ingest.catalog import Catalog
from energy_core.ingest.report import RunReport
from energy_core.ingest.runner import RunConfig, run
from energy_core.ops.vacuum import vacuum
from energy_core.storage.datafiles import DataFiles
from energy_core.storage.lake import Lake
from energy_core.storage.lock import StoreLock
from energy_core.storage.revisions import SUPERSEDED_AT
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import FAST, JAN, run_eia, stored, unreferenced, values
from tests.processes import child_env, energy, energy_command

RUN = ("run", "--source", "eia", "--simulate", "--region", "PACW", "--start", "2024-01-01", "--end", "2024-02-29")
"""Four windows (two months of both EIA datasets), then a feature build: every kind of write."""
CRASH_POINTS = {
    "raw_cached": 30, "validated": 30, "lake_before_commit": 30,
    "lake_after_commit": 31, "catalog_before_commit": 31,
    "lance_before_commit": 32, "lance_after_commit_before_manifest": 32,
}
MONTHS_COMMITTED = {"lake_after_commit": 2, "catalog_before_commit": 4, "lance_before_commit": 4,
                    "lance_after_commit_before_manifest": 4}
"""How many of the run's four months (two datasets, two months) a crash at each point finds committed;
none at the other points. Closing its sink, the run commits each dataset's months in one commit."""


def run_energy(home, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    return energy(*RUN, "--home", str(home), *args, env={"ENERGY_FAULT": fault} if fault else None)


def consistent(home) -> pl.DataFrame:
    """Check what a crash may leave: committed files open, keys unique, LanceDB at a version its build
    record names, with unique hours. Returns the stored values."""
    frame = values(home)
    if (home / "features").exists():
        store = FeatureStore(home)
        for entity in store.entities():
            _, ts, _, _ = store.arrays(entity)
            assert len(np.unique(ts)) == len(ts), f"{entity}: an hour appears twice"
    return frame


def months(frame: pl.DataFrame) -> dict[tuple, pl.DataFrame]:
    """Stored values by (dataset, year, month): what one commit replaces."""
    keyed = frame.with_columns(year=pl.col("ts").dt.year(), month=pl.col("ts").dt.month())
    return {key: part.drop("year", "month")
            for key, part in keyed.partition_by("dataset", "year", "month", as_dict=True).items()}


def whole_months(home, clean_home) -> dict[tuple, pl.DataFrame]:
    """What a crash left visible, checked: each month is absent or exactly a clean run's, row for row."""
    seen, clean = months(consistent(home)), months(values(clean_home))
    for month, rows in seen.items():
        assert rows.equals(clean[month]), f"{month} is visible, and not as a clean run stores it"
    return seen


def data_files(home) -> set[str]:
    """The data files the current version of every table is made of."""
    lake = Lake(home)
    return {uri for name in lake.datasets() if (table := lake.table(name)) is not None for uri in table.file_uris()}


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
    assert len(whole_months(tmp_path, clean_home)) == MONTHS_COMMITTED.get(point, 0)
    committed = data_files(tmp_path)
    catalog = Catalog(tmp_path)
    try:
        assert catalog.runs()[0].status in ("crashed", "ok"), "a killed run never claims to have finished badly"
    finally:
        catalog.close()

    again = run_energy(tmp_path)
    assert again.returncode == 0, again.stderr
    assert consistent(tmp_path).equals(values(clean_home))
    assert features(tmp_path).equals(features(clean_home))
    assert Lake(tmp_path).revisions().collect().height == values(clean_home).height, "the re-run added no revision"
    assert committed <= data_files(tmp_path), "the re-run rewrote no month committed before the crash"
    assert unreferenced(tmp_path) == [], "no fault point is inside a write, so no file is left that no commit names"
    catalog = Catalog(tmp_path)
    try:
        assert catalog.pending_reasons() == [], "every window is stored, so none is left pending"
    finally:
        catalog.close()


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


def kill_at_random(home, clean_home, rng: random.Random, longest: float) -> None:
    child = subprocess.Popen(energy_command(*RUN, "--home", str(home)), env=child_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, longest))
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    whole_months(home, clean_home)


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
        kill_at_random(home, clean_home, rng, longest=3.0)
    for home in {tmp_path / f"run{i % 2}" for i in range(iterations)}:
        again = run_energy(home)
        assert again.returncode == 0, f"seed {seed}: {again.stderr}"
        assert consistent(home).equals(values(clean_home)), f"seed {seed}"
        assert features(home).equals(features(clean_home)), f"seed {seed}"


def run_both_datasets(home, sim: EiaSimulator, span: tuple[datetime, datetime]) -> RunReport:
    return run(RunConfig(sources=("eia",), start=span[0], end=span[1], home=home, regions=("PACW",),
                         datasets=("eia.region", "eia.fuel"), env=sim.env(), retry=FAST))


def leave_what_a_killed_writer_leaves(home) -> list[Path]:
    """Plant, named as the lake and deltalake name them, the files a writer killed inside a write (no fault point is
    there) or beaten to its commit by another machine leaves: a whole data file that no commit names,
    holding values no run stores; a half-written staged upload of one (the object store writes
    ``<name>#<n>`` and renames it once complete); a half-written staged commit that would have named
    the data file; and the data file of a table whose first commit never happened (no ``_delta_log``)."""
    lake = Lake(home)
    table = Path(lake.table_uri("eia.region"))
    (committed,) = lake.table("eia.region").file_uris()
    month = Path(committed).parent
    orphan = month / f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    pl.read_parquet(committed).with_columns(value=-pl.col("value").fill_null(0) - 1e6).write_parquet(orphan)
    staged = month / f"part-00000-{uuid.uuid4()}-c000.zstd.parquet#1"
    staged.write_bytes(orphan.read_bytes()[: orphan.stat().st_size // 2])
    commit = table / "_delta_log" / "00000000000000000001.json#1"
    commit.write_text(f'{{"add":{{"path":"{orphan.relative_to(table).as_posix()}","partitionValues":{{"year":"20')
    never_created = Path(lake.table_uri("eia.fuel")) / "year=2024" / "month=1" / orphan.name
    never_created.parent.mkdir(parents=True)
    never_created.write_bytes(orphan.read_bytes())
    return [orphan, staged, never_created]


@pytest.mark.fault(30)
def test_f30_files_a_killed_or_beaten_writer_leaves_are_invisible_and_harmless(tmp_path):
    """Files no commit names are never read, and the next run writes the same month, and creates the
    table whose first commit died, as if they were not there: it stores what a clean home stores.
    ``energy store vacuum`` deletes the data files once they are older than its retention."""
    home, clean = tmp_path / "home", tmp_path / "clean"
    later = (JAN[1], JAN[1] + timedelta(days=3))  # more of the same month
    with EiaSimulator(respondents=("PACW",)) as sim:
        for where in (clean, home):
            assert run_eia(where, sim).ok
        before, versions = values(home), Lake(home).versions()
        left = leave_what_a_killed_writer_leaves(home)
        assert values(home).equals(before) and Lake(home).versions() == versions
        assert Lake(home).datasets() == ["eia.region"], "a table without a commit is no table"
        for where in (clean, home):
            assert run_both_datasets(where, sim, later).ok
    stored_values = values(home)
    assert stored_values.equals(values(clean))
    assert set(left) <= set(unreferenced(home)), "they are still named by no commit, so never read"
    vacuum(home, retention_hours=0, apply=True, allow_short_retention=True)  # no other machine writes this lake
    assert not [f for f in left if f.exists() and f.suffix == ".parquet"], "vacuum deletes the whole data files"
    assert values(home).equals(stored_values)


@pytest.mark.fault(30)
@pytest.mark.parametrize("damage", ["truncated", "zeroed"])
def test_f30_a_damaged_committed_data_file_is_a_storage_error_naming_the_table(tmp_path, clean, damage):
    """A commit follows its data files once they are whole, but nothing promises they reached the disk:
    a power cut soon after can leave a file the log names short or zeroed (so can a bad disk or a bad
    copy of a home). Writes to and reads of its table then fail with an error naming the table;
    `energy store repair` takes the file out, and a re-fetch of its month restores what a clean run stores."""
    home = tmp_path / "home"
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(home, sim).ok
        (uri,) = Lake(home).table("eia.region").file_uris()
        data = Path(uri).read_bytes()
        Path(uri).write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(len(data)))
        with pytest.raises(StorageError, match=r"eia\.region"):
            run_eia(home, sim, span=(JAN[1], JAN[1] + timedelta(days=3)))
        status = energy("status", "--home", str(home))
        assert status.returncode == 1 and "eia.region" in status.stderr, status.stderr
        assert "Traceback" not in status.stderr and "panicked" not in status.stderr
        repair = energy("store", "repair", "--home", str(home))
        assert repair.returncode == 0 and "2024-01" in repair.stdout, repair.stdout + repair.stderr
        assert energy("status", "--home", str(home)).returncode == 0
        assert run_eia(home, sim, refresh=True).ok
    assert values(home).equals(clean)


@contextlib.contextmanager
def out_of_space(limit: int = 1024) -> Iterator[None]:
    """Lake writes inside the block run out of space: while the lake commits (writes its data files and its
    log), the kernel refuses (EFBIG) to grow any file past ``limit`` bytes, the real failure a full disk
    (ENOSPC) gives, in the real writer."""
    commit = Lake._commit

    def limited(*args, **kwargs):
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            return commit(*args, **kwargs)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Lake, "_commit", limited)
            yield
    finally:
        signal.signal(signal.SIGXFSZ, ignored)


@pytest.mark.fault(33)
def test_f33_running_out_of_space_is_a_storage_error_and_keeps_the_previous_version_and_the_cache(tmp_path):
    later = (JAN[1], JAN[1] + timedelta(days=3))  # more of the same month
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
        before, versions = values(tmp_path), Lake(tmp_path).versions()
        with out_of_space(), pytest.raises(StorageError, match=r"could not write eia\.region .*File too large"):
            run_eia(tmp_path, sim, span=later)
        assert Lake(tmp_path).versions() == versions and values(tmp_path).equals(before)
        assert unreferenced(tmp_path) == [], "the half-written file is gone"

        requests = len(sim.requests)  # space freed: the cache replays the fetch
        assert run_eia(tmp_path, sim, span=later).ok
        assert len(sim.requests) == requests, "served from the cache, which the failure did not poison"
    assert stored(tmp_path)["ts"].max() == later[1] - timedelta(hours=1)


@pytest.mark.fault(33)
def test_f33_a_month_that_cannot_be_written_leaves_no_file_of_its_commit(tmp_path, monkeypatch):
    """A commit writes its months' files several at a time: when one fails, the files of the others, even
    those still being written, are deleted, and the lake is as it was."""
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
        before, versions = values(tmp_path), Lake(tmp_path).versions()
        add = DataFiles.add

        def failing_first(self, month, rows):
            if month == (2024, 1):
                raise OSError(28, "No space left on device")
            time.sleep(0.3)  # the other months end after the failure
            return add(self, month, rows)

        monkeypatch.setattr(DataFiles, "add", failing_first)
        with pytest.raises(StorageError, match=r"could not write eia\.region .*No space left on device"):
            run_eia(tmp_path, sim, span=(JAN[1], JAN[1] + timedelta(days=90)))
    assert Lake(tmp_path).versions() == versions and values(tmp_path).equals(before)
    assert unreferenced(tmp_path) == []


@pytest.mark.fault(33)
def test_f33_a_file_size_limit_in_a_real_process_fails_cleanly(tmp_path, clean_home):
    assert run_energy(tmp_path, "--end", "2024-01-31").returncode == 0
    january = months(values(tmp_path))

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))  # the raw cache and the catalog hit it

    result = subprocess.run(energy_command(*RUN, "--home", str(tmp_path), "--refresh"), env=child_env(),
                            capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "could not write" in result.stderr
    # a dataset whose commit fit under the limit has February; one whose did not is as it was
    seen = whole_months(tmp_path, clean_home)
    assert all(seen[month].equals(rows) for month, rows in january.items()), "January is as it was"
    assert run_energy(tmp_path).returncode == 0
    assert values(tmp_path).equals(values(clean_home))


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
    lock = Home(tmp_path).processed_lock
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


WRITER = """
import sys
from datetime import UTC, datetime, timedelta

import polars as pl

from energy_core.storage.lake import Lake
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

home, writer, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = datetime(2024, 1, 1, tzinfo=UTC)
lake = Lake(home)
for batch in range(batches):
    hours = [start + timedelta(hours=h) for h in range(batch * 24, batch * 24 + 24)]
    lake.upsert(pl.DataFrame({
        "ts": [*hours, start], "source": "eia", "dataset": "eia.region", "region": [f"W{writer}"] * 24 + ["SHARED"],
        "series": "demand", "value": [float(h.hour) for h in hours] + [100.0 * writer + batch], "unit": "MWh",
        "retrieved_at": start + timedelta(days=40, minutes=2 * batch + writer),
    }, schema=POLARS_SCHEMA).select(COLUMNS))
"""
"""A second machine's writer: ``batches`` commits to January, each a day of its own region and a new value of
one key both writers revise (known at interleaved times)."""


@pytest.mark.fault(34)
def test_f34_two_machines_writing_one_lake_lose_no_write_and_no_revision(tmp_path):
    """Machines sharing a lake hold no lock in common: each commit that loses the race reads the month
    again, merges again and commits again, so every writer's rows and every revision are kept."""
    batches = 5
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w), str(batches)], env=child_env(),
                                stderr=subprocess.PIPE, text=True) for w in (0, 1)]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    latest = stored(tmp_path)
    assert [latest.filter(region=f"W{w}").height for w in (0, 1)] == [24 * batches] * 2
    shared = Lake(tmp_path).revisions().filter(region="SHARED").sort("retrieved_at").collect()
    assert shared["value"].to_list() == [100.0 * w + b for b in range(batches) for w in (0, 1)]
    assert shared[SUPERSEDED_AT].to_list() == [*shared["retrieved_at"].to_list()[1:], None]


@pytest.mark.fault(35)
def test_f35_a_repeated_command_is_a_cache_hit_and_an_overlapping_one_merges_by_key(tmp_path):
    january = ("--end", "2024-01-31")
    first = run_energy(tmp_path, *january)
    versions = Lake(tmp_path).versions()
    second = run_energy(tmp_path, *january)  # incremental: the store holds January, nothing is fetched
    assert second.returncode == 0 and "0 rows new or changed" in second.stdout
    assert "skipped: 2 window(s) already stored" in second.stdout
    replay = run_energy(tmp_path, *january, "--lookback", "36500")  # treat January as revisable: the cache answers
    assert replay.returncode == 0 and "0 rows new or changed" in replay.stdout
    assert re.search(r"requests eia: 0 sent, [1-9]\d* cache hits", replay.stdout)
    assert Lake(tmp_path).versions() == versions and first.returncode == 0, "no commit: equal versions"
    third = run_energy(tmp_path, "--start", "2024-01-15", "--end", "2024-02-15")  # overlaps January
    assert third.returncode == 0, third.stderr
    frame = consistent(tmp_path)
    assert frame["ts"].min() == datetime(2024, 1, 1, tzinfo=UTC)
    assert frame["ts"].max() == datetime(2024, 2, 15, 23, tzinfo=UTC)
    assert Lake(tmp_path).revisions().collect().height == frame.height, "the overlap revised nothing"
