"""The lake: upserts that keep every revision, reads as of any time, one commit per month, on a local folder
and on S3 (moto's server on loopback) alike."""

from __future__ import annotations

import itertools
import os
import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.storage.lake import Lake
from energy_core.storage.lock import StoreLock
from energy_core.storage.schema import KEY, POLARS_SCHEMA

T0 = datetime(2024, 1, 31, 22, tzinfo=UTC)
FETCH_1 = datetime(2024, 3, 1, tzinfo=UTC)
FETCH_2 = datetime(2024, 3, 2, tzinfo=UTC)
FETCH_3 = datetime(2024, 3, 3, tzinfo=UTC)


def rows(values, *, retrieved_at=FETCH_1, start=T0, region="PACW") -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({
        "ts": [start + timedelta(hours=i) for i in range(n)], "source": ["eia"] * n, "dataset": ["eia.region"] * n,
        "region": [region] * n, "series": ["demand"] * n, "value": values, "unit": ["MWh"] * n,
        "retrieved_at": [retrieved_at] * n,
    }, schema=POLARS_SCHEMA)


def values(lake: Lake, **scan) -> list[float | None]:
    return lake.scan(**scan).collect().sort("ts")["value"].to_list()


def test_each_month_is_one_commit_and_reads_back_whole(lake_home):
    lake = Lake(lake_home)
    stats = lake.upsert(rows([1.0, 2.0, 3.0, 4.0]))  # 22:00 Jan 31 .. 01:00 Feb 1: two months
    assert stats.rows_new == 4 and stats.files_written == 2
    assert stats.commits == 1 and lake.datasets() == ["eia.region"]
    assert lake.versions() == {"eia.region": 1}  # version 0 created the table, empty
    stored = lake.scan().collect().sort("ts")
    assert stored.equals(rows([1.0, 2.0, 3.0, 4.0]))


def test_a_rerun_commits_nothing(lake_home):
    lake = Lake(lake_home)
    lake.upsert(rows([1.0, 2.0, None]))
    before = lake.versions()
    stats = lake.upsert(rows([1.0, 2.0, None], retrieved_at=FETCH_2))
    assert (stats.rows_new, stats.rows_changed, stats.files_written) == (0, 0, 0)
    assert lake.versions() == before
    assert lake.scan().collect()["retrieved_at"].to_list() == [FETCH_1] * 3  # known since the first fetch


def test_a_revision_is_kept_and_read_as_of_any_time(lake_home):
    lake = Lake(lake_home)
    lake.upsert(rows([1.0, 2.0, 3.0]))
    stats = lake.upsert(rows([1.0, 20.0, 3.0], retrieved_at=FETCH_2))
    assert (stats.rows_new, stats.rows_changed) == (0, 1)
    assert values(lake) == [1.0, 20.0, 3.0]
    assert values(lake, as_of=FETCH_1) == [1.0, 2.0, 3.0]
    assert values(lake, as_of=FETCH_2) == [1.0, 20.0, 3.0]
    assert values(lake, as_of=FETCH_1 - timedelta(seconds=1)) == []  # nothing was known yet
    history = lake.revisions().filter(pl.col("ts") == T0 + timedelta(hours=1)).collect().sort("retrieved_at")
    assert history.select("value", "retrieved_at", "superseded_at").rows() == [(2.0, FETCH_1, FETCH_2),
                                                                              (20.0, FETCH_2, None)]
    latest = lake.scan().collect()
    assert latest.select(pl.struct(KEY).n_unique()).item() == latest.height


def test_an_older_answer_is_history_not_the_latest(lake_home):
    lake = Lake(lake_home)
    lake.upsert(rows([5.0], retrieved_at=FETCH_2))
    stats = lake.upsert(rows([4.0], retrieved_at=FETCH_1))  # a replayed old answer arrives late
    assert values(lake) == [5.0] and stats.rows_changed == 0
    assert values(lake, as_of=FETCH_1) == [4.0]


def test_a_value_seen_earlier_is_known_from_then(lake_home):
    lake = Lake(lake_home)
    lake.upsert(rows([5.0], retrieved_at=FETCH_2))
    stats = lake.upsert(rows([5.0], retrieved_at=FETCH_1))
    assert stats.rows_changed == 1
    assert lake.scan().collect()["retrieved_at"].to_list() == [FETCH_1]
    assert lake.revisions().collect().height == 1


def test_a_key_twice_in_one_batch_keeps_both_revisions(lake_home):
    lake = Lake(lake_home)
    lake.upsert(pl.concat([rows([1.0, 2.0], retrieved_at=FETCH_2), rows([9.0, 9.0])]))
    assert values(lake) == [1.0, 2.0]
    assert values(lake, as_of=FETCH_1) == [9.0, 9.0]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_what_is_stored_depends_on_the_answers_not_their_order(tmp_path, order):
    batches = [rows([1.0, 2.0, None]), rows([1.0, 3.0, 4.0], retrieved_at=FETCH_2),
               rows([1.5, 3.0, 4.0], retrieved_at=FETCH_3)]
    lake = Lake(tmp_path)
    for i in order:
        lake.upsert(batches[i])
    stored = lake.revisions().collect().sort([*KEY, "retrieved_at"])
    reference = Lake(tmp_path / "reference")
    for batch in batches:
        reference.upsert(batch)
    assert stored.equals(reference.revisions().collect().sort([*KEY, "retrieved_at"]))
    assert values(lake) == [1.5, 3.0, 4.0]
    assert values(lake, as_of=FETCH_2) == [1.0, 3.0, 4.0]
    assert values(lake, as_of=FETCH_1) == [1.0, 2.0, None]


def test_writers_racing_for_one_month_lose_nothing(lake_home):
    """Two machines sharing a lake commit to the same month at once: each losing commit merges again."""
    regions = ["PACW", "ERCO", "ISNE", "MISO"]
    errors = []
    start = threading.Barrier(len(regions))

    def write(region):
        try:
            lake = Lake(lake_home)
            start.wait()
            lake.upsert(rows([float(i) for i in range(24)], region=region))
        except Exception as exc:  # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(region,)) for region in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = Lake(lake_home).scan().collect()
    assert stored.height == 24 * len(regions)
    assert stored.select(pl.struct(KEY).n_unique()).item() == stored.height


@pytest.mark.parametrize("month", ["new", "stored"])
def test_a_commit_from_a_snapshot_another_writer_outdated_merges_again(lake_home, monkeypatch, month):
    """A writer reads the table, another commits the same keys, then the first commits: its values must
    supersede the other's, not sit beside them, whether the month held files before or not."""
    lake = Lake(lake_home)
    lake.upsert(rows([0.0], start=T0 - timedelta(days=40)))  # the table exists; December only
    if month == "stored":
        lake.upsert(rows([9.0], start=T0 + timedelta(hours=5), region="MISO"))
    stale = lake.table("eia.region")
    Lake(lake_home).upsert(rows([1.0, 2.0], start=T0 + timedelta(hours=3)))  # February's keys, first
    opened = iter([stale])
    real = lake.table
    monkeypatch.setattr(lake, "table", lambda dataset: next(opened, None) or real(dataset))
    stats = lake.upsert(rows([3.0, 4.0], start=T0 + timedelta(hours=3), retrieved_at=FETCH_2))
    assert stats.commits == 1 and stats.rows_changed == 2
    february = Lake(lake_home).revisions().filter(pl.col("ts") >= T0 + timedelta(hours=2), region="PACW")
    assert february.sort("retrieved_at", "ts").collect()["value"].to_list() == [1.0, 2.0, 3.0, 4.0]
    assert values(Lake(lake_home)) == [0.0, 3.0, 4.0] + ([9.0] if month == "stored" else [])


def test_a_lake_named_with_s3a_is_the_same_bucket(s3_home):
    """delta-rs takes ``s3a://`` as well as ``s3://``; the lake's own file writes and listings must too."""
    assert s3_home.lake is not None
    s3a = Home.of(s3_home.lake.replace("s3://", "s3a://", 1))
    stats = Lake(s3a).upsert(rows([1.0, 2.0]))
    assert stats.rows_new == 2 and Lake(s3a).datasets() == ["eia.region"]
    assert values(Lake(s3_home)) == values(Lake(s3a)) == [1.0, 2.0]


def test_an_empty_lake_reads_as_empty(lake_home):
    lake = Lake(lake_home)
    assert lake.scan().collect().height == 0 and lake.datasets() == [] and lake.changed_at() is None
    assert lake.scan("eia.region", as_of=FETCH_1).collect().schema == POLARS_SCHEMA


def test_a_second_writer_on_one_machine_is_refused_with_the_holder(tmp_path):
    with StoreLock(tmp_path / ".lock"):
        with pytest.raises(StorageError, match=f"locked by pid {os.getpid()}"):
            StoreLock(tmp_path / ".lock").__enter__()
    with StoreLock(tmp_path / ".lock"):
        pass  # released: the next writer gets it


def test_a_snapshot_is_reused_until_the_table_changes(tmp_path):
    lake = Lake(tmp_path)
    assert lake.snapshot("eia.region") is None
    lake.upsert(rows([1.0, 2.0]))
    first = lake.snapshot("eia.region")
    assert first is not None and lake.snapshot("eia.region") is first, "nothing changed: no new open"
    Lake(tmp_path).upsert(rows([3.0], start=T0 + timedelta(hours=2)))  # another writer commits
    latest = lake.snapshot("eia.region")
    assert latest is not None and latest.version() > first.version()
    assert Lake.read_month(latest, 2024, 2).height == 1  # the new hour, 00:00 on 1 February
