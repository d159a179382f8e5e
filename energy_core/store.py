"""The processed store: canonical observations as Parquet, ``<dataset>/year=YYYY/month=MM/``.

Writes are upserts on the key (dataset, region, series, ts). A row whose value is unchanged keeps
its stored ``retrieved_at`` (the first time that value was known); a changed value replaces the
row when it was retrieved later. Each partition is one file, written to a temporary name, synced
and renamed, so a reader sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from energy_core.errors import StorageError
from energy_core.schema import ARROW_SCHEMA, COLUMNS, KEY, POLARS_SCHEMA

logger = logging.getLogger(__name__)

PARTITION_FILE = "data.parquet"
_SORT = ("region", "series", "ts")


@dataclass
class UpsertStats:
    rows_in: int = 0
    rows_new: int = 0
    rows_changed: int = 0
    files_written: int = 0


class ParquetStore:
    """Partitioned Parquet under ``root`` (``<home>/processed``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def partition_dir(self, dataset: str, year: int, month: int) -> Path:
        return self.root / dataset / f"year={year:04d}" / f"month={month:02d}"

    def upsert(self, observations: pl.DataFrame) -> UpsertStats:
        """Merge validated canonical observations into their partitions."""
        stats = UpsertStats(rows_in=observations.height)
        if observations.height == 0:
            return stats
        keyed = observations.with_columns(_year=pl.col("ts").dt.year(), _month=pl.col("ts").dt.month())
        for (dataset, year, month), part in keyed.group_by("dataset", "_year", "_month"):
            self._upsert_partition(dataset, year, month, part.drop("_year", "_month"), stats)
        return stats

    def _upsert_partition(self, dataset: str, year: int, month: int, new: pl.DataFrame, stats: UpsertStats) -> None:
        directory = self.partition_dir(dataset, year, month)
        path = directory / PARTITION_FILE
        new = _latest_per_key(new)
        if path.exists():
            old = pl.read_parquet(path)
            merged, added, changed = _merge(old, new)
        else:
            merged, added, changed = new, new.height, 0
        if path.exists() and added == 0 and changed == 0:
            return
        stats.rows_new += added
        stats.rows_changed += changed
        _write_atomically(merged.sort(_SORT), directory)
        stats.files_written += 1

    def scan(self, dataset: str | None = None) -> pl.LazyFrame:
        """All stored observations (of one dataset), lazily; an empty frame when nothing is stored."""
        pattern = self.root / (dataset or "*") / "year=*" / "month=*" / PARTITION_FILE
        if not any(self.root.glob(str(pattern.relative_to(self.root)))):
            return pl.LazyFrame(schema=POLARS_SCHEMA)
        return pl.scan_parquet(pattern, hive_partitioning=False, schema=POLARS_SCHEMA)

    def datasets(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []


def _latest_per_key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("retrieved_at", maintain_order=True).unique(subset=KEY, keep="last", maintain_order=True)


def _merge(old: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Return the merged partition and how many keys were added and changed."""
    joined = new.join(old.select(*KEY, old_value="value", old_at="retrieved_at"), on=KEY, how="left",
                      nulls_equal=True)
    is_new = pl.col("old_at").is_null()
    differs = pl.col("value").ne_missing(pl.col("old_value"))
    replaces = ~is_new & differs & (pl.col("retrieved_at") >= pl.col("old_at"))
    flags = joined.select(added=is_new.sum(), changed=replaces.sum()).row(0)
    incoming = joined.filter(is_new | replaces).select(COLUMNS)
    if incoming.height == 0:
        return old, 0, 0
    kept = old.join(incoming.select(KEY), on=KEY, how="anti", nulls_equal=True)
    return pl.concat([kept, incoming]), flags[0], flags[1]


def _write_atomically(frame: pl.DataFrame, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(".tmp-*"):
        stale.unlink(missing_ok=True)
    tmp = directory / f".tmp-{uuid.uuid4().hex}.parquet"
    table = pa.Table.from_arrays([frame[c].to_arrow() for c in COLUMNS], schema=ARROW_SCHEMA)
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=256 * 1024,
                           use_dictionary=["source", "dataset", "region", "series", "unit"])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / PARTITION_FILE)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write {directory / PARTITION_FILE}: {exc.strerror or exc}; "
                           "the previous file is unchanged") from exc
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StoreLock:
    """An advisory lock so only one process writes a store at a time (released by the OS on death)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None

    def __enter__(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            raise StorageError(f"{self.path.parent} is being written by {holder}; wait for it to finish") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None
        self._fh.truncate(0)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
