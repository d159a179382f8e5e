"""The built-in ``parquet`` sink, registered through the same hook any plugin uses (in
:mod:`energy_core.storage.plugin`)."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.plugin.interfaces import Sink, SinkStats
from energy_core.storage.lock import StoreLock
from energy_core.storage.parquet import ParquetStore, partitions

Partition = tuple[str, int, int]


@dataclass
class _Buffer:
    """Rows waiting for one partition, and whether two of its batches may share a key."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    extents: list[tuple[frozenset[str], datetime, datetime]] = field(default_factory=list)
    overlapping: bool = False

    def add(self, rows: pl.DataFrame) -> None:
        regions = frozenset(rows["region"].unique())
        first, last = rows.select(first=pl.col("ts").min(), last=pl.col("ts").max()).row(0)
        self.overlapping = self.overlapping or any(
            regions & other and first <= other_last and other_first <= last
            for other, other_first, other_last in self.extents)
        self.frames.append(rows)
        self.extents.append((regions, first, last))


class ParquetSink(Sink):
    """Upserts observations into the home's processed store, holding its lock while open.

    Rows are buffered per partition so each file is rewritten rarely: when the buffer is full, the
    partitions the latest batch did not touch (usually finished months) are written first. Each
    batch arrives validated (no repeated key), so a partition needs a dedup pass only when two of
    its batches overlap in region and time.
    """

    name = "parquet"
    flush_rows = 1_000_000

    def __init__(self, home: Home) -> None:
        super().__init__(home)
        self.store = ParquetStore(home.processed)
        self._lock: StoreLock | None = None
        self._buffer: dict[Partition, _Buffer] = {}
        self._buffered = 0
        self._guard = threading.RLock()  # sources write from their own threads
        self.stats = SinkStats()

    def open(self) -> None:
        """Take the store's lock: only one process writes it at a time."""
        with self._guard:
            if self._lock is None:
                self._lock = StoreLock(self.home.processed_lock).__enter__()

    def scan(self, dataset: str | None = None) -> pl.LazyFrame:
        return self.store.scan(dataset)

    def write(self, observations: pl.DataFrame) -> None:
        with self._guard:
            if self._lock is None:
                raise StorageError(f"the parquet sink of {self.store.root} is not open; enter it (`with sink:`) "
                                   "before writing")
            self._write(observations)

    def _write(self, observations: pl.DataFrame) -> None:
        touched = []
        for partition, rows in partitions(observations):
            self._buffer.setdefault(partition, _Buffer()).add(rows)
            touched.append(partition)
        self._buffered += observations.height
        if self._buffered >= self.flush_rows:
            self.flush(keep=set(touched))
            if self._buffered >= self.flush_rows:
                self.flush()

    def flush(self, keep: Collection[Partition] = frozenset()) -> None:
        """Write every buffered partition except those in ``keep``."""
        with self._guard:
            self._flush(keep)

    def _flush(self, keep: Collection[Partition]) -> None:
        for partition in [p for p in self._buffer if p not in keep]:
            buffer = self._buffer.pop(partition)
            rows = pl.concat(buffer.frames, rechunk=False)
            self._buffered -= rows.height
            result = self.store.upsert_partition(partition, rows, keys_unique=not buffer.overlapping)
            self.stats.rows_written += result.rows_new + result.rows_changed
            self.stats.files_written += result.files_written

    def close(self) -> SinkStats:
        with self._guard:
            return self._close()

    def _close(self) -> SinkStats:
        if self._lock is not None:
            try:
                self.flush()
            finally:
                self._lock.__exit__(None, None, None)
                self._lock = None
        return self.stats
