"""The built-in ``parquet`` sink, registered through the same hook any plugin uses."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from energy_core.hookspecs import hookimpl
from energy_core.interfaces import Sink, SinkStats
from energy_core.store import ParquetStore, StoreLock


class ParquetSink(Sink):
    """Upserts observations into ``<home>/processed``, buffering to rewrite each partition rarely."""

    name = "parquet"
    flush_rows = 1_000_000

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.store = ParquetStore(home / "processed")
        self._lock = StoreLock(self.store.root / ".lock").__enter__()
        self._buffer: list[pl.DataFrame] = []
        self._buffered = 0
        self.stats = SinkStats()

    def write(self, observations: pl.DataFrame) -> None:
        self._buffer.append(observations)
        self._buffered += observations.height
        if self._buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        frame = pl.concat(self._buffer, rechunk=False)
        self._buffer, self._buffered = [], 0
        result = self.store.upsert(frame)
        self.stats.rows_written += result.rows_new + result.rows_changed
        self.stats.files_written += result.files_written

    def close(self) -> SinkStats:
        if self._lock is not None:
            try:
                self.flush()
            finally:
                self._lock.__exit__(None, None, None)
                self._lock = None
        return self.stats


@hookimpl
def register_sinks() -> list[type[Sink]]:
    return [ParquetSink]
