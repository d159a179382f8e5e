"""Sinks a plugin could ship, for the tests that hold every sink to the same contract: a SQLite sink
that reads back (so it takes part in incremental runs and gap reports) and a write-only one."""

from __future__ import annotations

import sqlite3
import threading

import polars as pl

from energy_core.api import COLUMNS, POLARS_SCHEMA, Home, Sink, SinkStats, StorageError, hookimpl

_SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    dataset TEXT NOT NULL,
    region TEXT NOT NULL,
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    value REAL,
    unit TEXT NOT NULL,
    retrieved_at INTEGER NOT NULL,
    PRIMARY KEY (dataset, region, series, ts)
);
"""

_UPSERT = """
INSERT INTO observations (dataset, region, series, ts, source, value, unit, retrieved_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dataset, region, series, ts) DO UPDATE SET
    source = excluded.source, value = excluded.value, unit = excluded.unit, retrieved_at = excluded.retrieved_at
WHERE (excluded.value IS NOT observations.value AND excluded.retrieved_at >= observations.retrieved_at)
   OR (excluded.value IS observations.value AND excluded.retrieved_at < observations.retrieved_at)
"""
"""The processed store's rule: a changed value replaces the row when it was retrieved later; an
unchanged value keeps its earliest retrieval. Rows the rule leaves alone count as no change."""

_STORED = ("dataset", "region", "series", "ts", "source", "value", "unit", "retrieved_at")
_MICROSECONDS = pl.Datetime("us", "UTC")


class SqliteSink(Sink):
    """Canonical observations in one SQLite table, ``<home>/observations.sqlite``, keyed like the
    processed store; timestamps are UTC microseconds."""

    name = "sqlite"

    def __init__(self, home: Home) -> None:
        super().__init__(home)
        self.path = home.root / "observations.sqlite"
        self.stats = SinkStats()
        self._db: sqlite3.Connection | None = None
        self._guard = threading.Lock()  # sources write from their own threads

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def write(self, observations: pl.DataFrame) -> None:
        rows = observations.with_columns(pl.col("ts", "retrieved_at").dt.epoch("us")).select(_STORED).rows()
        with self._guard:
            if self._db is None:
                raise StorageError("the sqlite sink is not open: use it as a context manager")
            before = self._db.total_changes
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(_UPSERT, rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageError(f"could not write {self.path}: {exc}; nothing of this batch was stored") from None
            self.stats.rows_written += self._db.total_changes - before

    def close(self) -> SinkStats:
        with self._guard:
            if self._db is not None:
                self._db.close()
                self._db = None
        return self.stats

    def scan(self, dataset: str | None = None) -> pl.LazyFrame:
        if not self.path.exists():
            return pl.LazyFrame(schema=POLARS_SCHEMA)
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            where, params = (" WHERE dataset = ?", (dataset,)) if dataset else ("", ())
            rows = db.execute(f"SELECT {', '.join(_STORED)} FROM observations{where}", params).fetchall()
        finally:
            db.close()
        stored = pl.Schema({name: pl.Int64() if name in ("ts", "retrieved_at") else POLARS_SCHEMA[name]
                            for name in _STORED})
        frame = pl.DataFrame(rows, schema=stored, orient="row")
        return frame.with_columns(pl.col("ts", "retrieved_at").cast(_MICROSECONDS)).select(COLUMNS).lazy()


class TallySink(Sink):
    """Counts what it is handed and keeps nothing it could read back."""

    name = "tally"

    def __init__(self, home: Home) -> None:
        super().__init__(home)
        self.stats = SinkStats()

    def write(self, observations: pl.DataFrame) -> None:
        self.stats.rows_written += observations.height

    def close(self) -> SinkStats:
        return self.stats


class SinksPlugin:
    """Registers both sinks the way a third-party plugin would."""

    @hookimpl
    def register_sinks(self) -> list[type[Sink]]:
        return [SqliteSink, TallySink]
