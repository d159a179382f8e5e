"""The built-in ``lake`` sink, registered through the same hook any plugin uses (in
:mod:`energy_core.storage.plugin`)."""

from __future__ import annotations

import threading
from collections.abc import Collection

import polars as pl

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.plugin.interfaces import Sink, SinkStats
from energy_core.storage.lake import Lake, by_dataset, partitions
from energy_core.storage.lock import StoreLock

Partition = tuple[str, int, int]


class LakeSink(Sink):
    """Upserts observations into the home's lake, holding this machine's lock of it while open.

    Rows are buffered per month so each month is committed rarely: when the buffer is full, the
    months the latest batch did not touch (usually finished ones) are committed first.
    """

    name = "lake"
    flush_rows = 1_000_000

    def __init__(self, home: Home) -> None:
        super().__init__(home)
        self.store = Lake(home)
        self._lock: StoreLock | None = None
        self._buffer: dict[Partition, list[pl.DataFrame]] = {}
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
                raise StorageError(f"the lake sink of {self.store.root} is not open; enter it (`with sink:`) "
                                   "before writing")
            self._write(observations)

    def _write(self, observations: pl.DataFrame) -> None:
        touched = []
        for partition, rows in partitions(observations):
            self._buffer.setdefault(partition, []).append(rows)
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
        flushed = []
        for partition in [p for p in self._buffer if p not in keep]:
            rows = pl.concat(self._buffer.pop(partition), rechunk=False)
            self._buffered -= rows.height
            flushed.append((partition, rows))
        for dataset, months in by_dataset(flushed).items():
            result = self.store.upsert_months(dataset, months)
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
