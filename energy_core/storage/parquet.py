"""The processed store: canonical observations as Parquet, ``<dataset>/year=YYYY/month=MM/``.

Writes are upserts on the key (dataset, region, series, ts). A row whose value is unchanged keeps
the earliest ``retrieved_at`` seen (the first time that value was known); a changed value replaces
the row when it was retrieved later. So the stored result depends on which batches arrived, not
on their order. Each partition is one file, written to a temporary name, synced
and renamed, so a reader sees the old file or the new one, never half of either. Rows keep the
order they arrived in (sorting costs more than the rest of a write), so a partition's bytes are a
function of the runs that wrote it; a re-run that changes nothing writes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from energy_core.crash_points import fault_point
from energy_core.errors import StorageError
from energy_core.storage.schema import COLUMNS, KEY, POLARS_SCHEMA

logger = logging.getLogger(__name__)

PARTITION_FILE = "data.parquet"


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
        stats = UpsertStats()
        for partition, rows in partitions(observations):
            result = self.upsert_partition(partition, rows)
            for name in ("rows_in", "rows_new", "rows_changed", "files_written"):
                setattr(stats, name, getattr(stats, name) + getattr(result, name))
        return stats

    def upsert_partition(self, partition: tuple[str, int, int], new: pl.DataFrame, *,
                         keys_unique: bool = False) -> UpsertStats:
        """Merge rows that all belong to one (dataset, year, month) partition.

        :param keys_unique: the caller guarantees no key repeats in ``new``, which skips a dedup pass.
        """
        stats = UpsertStats(rows_in=new.height)
        directory = self.partition_dir(*partition)
        path = directory / PARTITION_FILE
        if not keys_unique:
            new = _latest_per_key(new)
        if path.exists():
            new, stats.rows_new, stats.rows_changed = _merge(pl.read_parquet(path), new)
            if stats.rows_new == 0 and stats.rows_changed == 0:
                return stats
        else:
            stats.rows_new = new.height
        _write_atomically(new, directory)
        stats.files_written = 1
        return stats

    def pattern(self, dataset: str | None = None) -> Path:
        """The glob that matches every partition file (of one dataset)."""
        return self.root / (dataset or "*") / "year=*" / "month=*" / PARTITION_FILE

    def files(self, dataset: str | None = None) -> list[Path]:
        """Every partition file (of one dataset)."""
        return sorted(self.root.glob(str(self.pattern(dataset).relative_to(self.root))))

    def scan(self, dataset: str | None = None) -> pl.LazyFrame:
        """All stored observations (of one dataset), lazily; an empty frame when nothing is stored."""
        if not self.files(dataset):
            return pl.LazyFrame(schema=POLARS_SCHEMA)
        return pl.scan_parquet(self.pattern(dataset), hive_partitioning=False, schema=POLARS_SCHEMA)

    def datasets(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []


def partitions(observations: pl.DataFrame) -> list[tuple[tuple[str, int, int], pl.DataFrame]]:
    """Split observations by (dataset, year, month); a batch inside one month is not copied."""
    if observations.height == 0:
        return []
    first, last = observations.select(first=pl.col("ts").min(), last=pl.col("ts").max()).row(0)
    datasets = observations["dataset"].unique()
    if len(datasets) == 1 and (first.year, first.month) == (last.year, last.month):
        return [((datasets[0], first.year, first.month), observations)]
    keyed = observations.with_columns(_year=pl.col("ts").dt.year(), _month=pl.col("ts").dt.month())
    return [((d, y, m), part.drop("_year", "_month"))
            for (d, y, m), part in keyed.group_by("dataset", "_year", "_month", maintain_order=True)]


def _latest_per_key(frame: pl.DataFrame) -> pl.DataFrame:
    """Where a key repeats (overlapping windows), keep its latest retrieval (the last one on ties)."""
    order = frame.with_row_index("_arrival").sort("retrieved_at", maintain_order=True)
    latest = order.unique(subset=KEY, keep="last", maintain_order=True)
    return latest.sort("_arrival").drop("_arrival") if latest.height < frame.height else frame


def _merge(old: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Return the merged partition and how many keys were added and changed."""
    joined = new.join(old.select(*KEY, old_value="value", old_at="retrieved_at"), on=KEY, how="left",
                      nulls_equal=True)
    is_new = pl.col("old_at").is_null()
    differs = pl.col("value").ne_missing(pl.col("old_value"))
    replaces = ~is_new & differs & (pl.col("retrieved_at") >= pl.col("old_at"))
    known_earlier = ~is_new & ~differs & (pl.col("retrieved_at") < pl.col("old_at"))
    flags = joined.select(added=is_new.sum(), changed=(replaces | known_earlier).sum()).row(0)
    incoming = joined.filter(is_new | replaces | known_earlier).select(COLUMNS)
    if incoming.height == 0:
        return old, 0, 0
    kept = old.join(incoming.select(KEY), on=KEY, how="anti", nulls_equal=True)
    return pl.concat([kept, incoming]), flags[0], flags[1]


def _write_atomically(frame: pl.DataFrame, directory: Path) -> None:
    tmp = directory / f".tmp-{uuid.uuid4().hex}.parquet"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob(".tmp-*"):
            stale.unlink(missing_ok=True)
        with open(tmp, "wb") as fh:
            frame.select(COLUMNS).write_parquet(fh, compression="zstd", row_group_size=256 * 1024)
            fault_point("parquet_before_close")
            fh.flush()
            os.fsync(fh.fileno())
        fault_point("parquet_tmp_written")
        os.replace(tmp, directory / PARTITION_FILE)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write {directory / PARTITION_FILE}: {exc.strerror or exc}; "
                           "the previous file is unchanged") from exc
    _fsync_dir(directory)
    fault_point("after_publish_before_manifest")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
