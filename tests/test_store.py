from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow.parquet as pq
import pytest

from energy_core.errors import StorageError
from energy_core.storage.lock import StoreLock
from energy_core.storage.parquet import ParquetStore
from energy_core.storage.schema import KEY, POLARS_SCHEMA

T0 = datetime(2024, 1, 31, 22, tzinfo=UTC)
FETCH_1 = datetime(2024, 3, 1, tzinfo=UTC)
FETCH_2 = datetime(2024, 3, 2, tzinfo=UTC)


def rows(values, *, retrieved_at=FETCH_1, start=T0) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({
        "ts": [start + timedelta(hours=i) for i in range(n)], "source": ["eia"] * n, "dataset": ["eia.region"] * n,
        "region": ["PACW"] * n, "series": ["demand"] * n, "value": values, "unit": ["MWh"] * n,
        "retrieved_at": [retrieved_at] * n,
    }, schema=POLARS_SCHEMA)


def files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_partitions_by_dataset_year_month(tmp_path):
    store = ParquetStore(tmp_path)
    stats = store.upsert(rows([1.0, 2.0, 3.0, 4.0]))  # 22:00 Jan 31 .. 01:00 Feb 1
    assert stats.rows_new == 4 and stats.files_written == 2
    assert [p.relative_to(tmp_path).as_posix() for p in files(tmp_path)] == [
        "eia.region/year=2024/month=01/data.parquet", "eia.region/year=2024/month=02/data.parquet"]
    assert store.scan().collect().height == 4


def test_rerun_is_byte_identical_and_writes_nothing(tmp_path):
    store = ParquetStore(tmp_path)
    store.upsert(rows([1.0, 2.0, None]))
    before = {p: p.read_bytes() for p in files(tmp_path)}
    stats = store.upsert(rows([1.0, 2.0, None], retrieved_at=FETCH_2))
    assert (stats.rows_new, stats.rows_changed, stats.files_written) == (0, 0, 0)
    assert {p: p.read_bytes() for p in files(tmp_path)} == before


def test_revision_replaces_value_and_keeps_one_row_per_key(tmp_path):
    store = ParquetStore(tmp_path)
    store.upsert(rows([1.0, 2.0, 3.0]))
    stats = store.upsert(rows([1.0, 20.0, 3.0], retrieved_at=FETCH_2))
    assert stats.rows_changed == 1
    stored = store.scan().collect().sort("ts")
    assert stored["value"].to_list() == [1.0, 20.0, 3.0]
    assert stored["retrieved_at"].to_list() == [FETCH_1, FETCH_2, FETCH_1]
    assert stored.select(pl.struct(KEY).n_unique()).item() == stored.height


def test_older_fetch_does_not_overwrite_newer_value(tmp_path):
    store = ParquetStore(tmp_path)
    store.upsert(rows([5.0], retrieved_at=FETCH_2))
    store.upsert(rows([4.0], retrieved_at=FETCH_1))
    assert store.scan().collect()["value"].to_list() == [5.0]


def test_duplicates_inside_a_batch_keep_the_latest_retrieval(tmp_path):
    store = ParquetStore(tmp_path)
    store.upsert(pl.concat([rows([1.0, 2.0], retrieved_at=FETCH_2), rows([9.0, 9.0])]))
    assert store.scan().collect().sort("ts")["value"].to_list() == [1.0, 2.0]


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path)
    store.upsert(rows([1.0]))
    [path] = files(tmp_path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("energy_core.storage.parquet.os.replace", disk_full)
    with pytest.raises(StorageError, match="No space left on device; the previous file is unchanged"):
        store.upsert(rows([2.0], retrieved_at=FETCH_2))
    assert files(tmp_path) == [path] and path.read_bytes() == before
    pq.read_metadata(path)


def test_stale_temp_files_are_removed_on_next_write(tmp_path):
    store = ParquetStore(tmp_path)
    store.upsert(rows([1.0]))
    [path] = files(tmp_path)
    stale = path.parent / ".tmp-deadbeef.parquet"
    stale.write_bytes(b"half a file")
    store.upsert(rows([2.0], retrieved_at=FETCH_2))
    assert not stale.exists()


def test_second_writer_is_refused_with_the_holder(tmp_path):
    with StoreLock(tmp_path / ".lock"):
        with pytest.raises(StorageError, match=f"locked by pid {os.getpid()}"):
            StoreLock(tmp_path / ".lock").__enter__()
    with StoreLock(tmp_path / ".lock"):
        pass  # released: the next writer gets it


def test_scan_of_empty_store_is_empty(tmp_path):
    assert ParquetStore(tmp_path / "none").scan().collect().height == 0
