"""The built-in ``lake`` sink, registered through the same hook any plugin uses (in
:mod:`energy_core.storage.plugin`)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import polars as pl

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.plugin.interfaces import Sink, SinkStats
from energy_core.plugin.windows import add_months
from energy_core.storage.lake import Lake, by_dataset, partitions
from energy_core.storage.lock import StoreLock

Partition = tuple[str, int, int]


class LakeSink(Sink):
    """Upserts observations into the home's lake, holding this machine's lock of it while open.

    Rows are buffered per month so each month is committed rarely: when the buffer is full, the
    months no more rows are coming to are committed, on a thread of the sink's own, while writes go on
    filling the buffer (merging and encoding them is polars and delta-rs work, which leaves the GIL to
    the run). The runner tells which months rows may still come to (:meth:`expect`: those of the windows
    under way or yet to start); of a dataset it has not told of, the months the latest batch touched are
    held. A month committed while windows of it are still coming is merged and written again when they
    come, so the months still filling are committed early only once they alone hold twice the buffer. A
    buffer is taken only once the one before it is committed. A commit's failure is raised by the write
    that takes the next buffer, or by the flush or close.
    """

    name = "lake"
    flush_rows = 500_000
    """Rows buffered before the months not touched by the latest batch are committed. The buffer under
    commit is held too, and a run's close commits the last one after every window has ended: with half a
    million, three years of every BA peak as they did with a million committed in the writes' way (0.77 to
    0.86 GB against 0.79 to 0.84), and the close of 3y-8 takes about 0.25 s instead of 0.45
    (``benchmarks/scale.py``)."""

    def __init__(self, home: Home) -> None:
        super().__init__(home)
        self.store = Lake(home)
        self._lock: StoreLock | None = None
        self._buffer: dict[Partition, list[pl.DataFrame]] = {}
        self._buffered = 0
        self._coming: dict[str, Sequence[tuple[datetime, datetime | None]]] = {}
        """Per dataset the runner told of, where its rows may still come (see :meth:`expect`)."""
        self._guard = threading.RLock()  # sources write from their own threads
        self._committer: ThreadPoolExecutor | None = None
        self._committing: Future[None] | None = None
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
        touched = set()
        for partition, rows in partitions(observations):
            self._buffer.setdefault(partition, []).append(rows)
            touched.add(partition)
        self._buffered += observations.height
        if self._buffered >= self.flush_rows:
            self._commit_in_background(keep=self._filling(touched))
            if self._buffered >= self.flush_rows * (2 if self._coming else 1):
                self._commit_in_background(keep=())

    def expect(self, dataset: str, coming: Sequence[tuple[datetime, datetime | None]]) -> None:
        with self._guard:
            self._coming[dataset] = coming

    def _filling(self, touched: set[Partition]) -> set[Partition]:
        """The buffered months more rows may still come to."""
        def filling(partition: Partition) -> bool:
            dataset, year, month = partition
            if dataset not in self._coming:
                return partition in touched
            begins = datetime(year, month, 1, tzinfo=UTC)
            ends = add_months(begins, 1)
            return any(start < ends and (end is None or begins < end) for start, end in self._coming[dataset])

        return {partition for partition in self._buffer if filling(partition)}

    def flush(self, keep: Collection[Partition] = frozenset()) -> None:
        """Write every buffered partition except those in ``keep``, and return once they are committed."""
        with self._guard:
            self._commit_in_background(keep)
            self._wait_for_commit()

    def _commit_in_background(self, keep: Collection[Partition]) -> None:
        """Take the buffered partitions not in ``keep`` (if there are any) and commit them on the sink's
        thread, once the commit under way (whose failure this raises) has ended."""
        ready = [p for p in self._buffer if p not in keep]
        if not ready:
            return
        self._wait_for_commit()
        taken, single_batch = [], set()
        for partition in ready:
            batches = self._buffer.pop(partition)
            if len(batches) == 1:  # one validated batch holds each key once
                single_batch.add(partition)
            rows = pl.concat(batches, rechunk=False)
            self._buffered -= rows.height
            taken.append((partition, rows))
        self._committer = self._committer or ThreadPoolExecutor(1, thread_name_prefix="energy-lake-commit")
        self._committing = self._committer.submit(self._commit, taken, single_batch)

    def _wait_for_commit(self) -> None:
        committing, self._committing = self._committing, None
        if committing is not None:
            committing.result()

    def _commit(self, taken: list[tuple[Partition, pl.DataFrame]], single_batch: set[Partition]) -> None:
        for dataset, months in by_dataset(taken).items():
            unique = [(year, month) for name, year, month in single_batch if name == dataset]
            result = self.store.upsert_months(dataset, months, keys_unique=unique)
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
                if self._committer is not None:  # a failed commit was raised by the flush
                    self._committer.shutdown()
                    self._committer = None
                self._lock.__exit__(None, None, None)
                self._lock = None
        return self.stats
