"""The catalog: what every run asked for, what each window did, and what is still pending.

A SQLite database at ``<home>/catalog.sqlite``. A run is recorded in two transactions: when it
starts (with every planned window marked pending) and when its sinks have flushed (outcomes, rows,
and the pending marks of windows that were stored). A crash between the two leaves the run
``running`` and its windows pending, so the next run resumes them. Each window keeps the requests
it made and the retrieval times of its batches, which is how a stored row is traced back: its
``retrieved_at`` names the batch, and so the run and the requests, that wrote it.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from energy_core.crash_points import fault_point
from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.ingest.database import connect
from energy_core.plugin.interfaces import Window

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    pid INTEGER NOT NULL,
    config TEXT NOT NULL,
    plugins TEXT NOT NULL,
    rows_stored INTEGER
);
CREATE TABLE IF NOT EXISTS windows (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    source TEXT NOT NULL,
    dataset TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    regions TEXT NOT NULL,
    status TEXT NOT NULL,
    rows INTEGER NOT NULL,
    from_cache INTEGER NOT NULL,
    seconds REAL NOT NULL,
    error TEXT,
    requests TEXT NOT NULL,
    retrieved_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_by_dataset ON windows (dataset, start);
CREATE TABLE IF NOT EXISTS rows_received (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    dataset TEXT NOT NULL,
    region TEXT NOT NULL,
    series TEXT NOT NULL,
    rows INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    source TEXT NOT NULL,
    dataset TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    regions TEXT NOT NULL,
    run_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (source, dataset, start, end, regions)
);
"""

_IS_WINDOW = "source = ? AND dataset = ? AND start = ? AND end = ? AND regions = ?"
"""Matches one pending window by its key (see :func:`_window_key`)."""
_UNMARK_PENDING = f"DELETE FROM pending WHERE {_IS_WINDOW}"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    """Still going (as recorded when it began)."""
    CRASHED = "crashed"
    """Recorded as running, but its process is gone: never stored in the catalog, only reported."""
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    command: str
    started_at: str
    finished_at: str | None
    status: RunStatus
    rows_stored: int | None


class WindowRow(Protocol):
    """What the catalog records of one window's outcome (a run report's window outcome is one)."""

    @property
    def spec(self) -> Window: ...
    @property
    def status(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def from_cache(self) -> bool: ...
    @property
    def seconds(self) -> float: ...
    @property
    def error(self) -> str | None: ...
    @property
    def requests(self) -> Sequence[str]: ...
    @property
    def retrieved_at(self) -> Sequence[datetime]: ...


@dataclass(frozen=True)
class FinishedRun:
    """What the catalog records when a run ends."""

    run_id: str
    status: RunStatus
    finished_at: datetime | None
    rows_stored: int
    windows: Sequence[WindowRow]
    """Every window the run attempted (or left alone when it stopped), with its outcome."""
    stored: Collection[Window]
    """The windows whose rows the sinks now hold: no longer pending. The others stay pending."""
    found_stored: Sequence[Window]
    """Windows not fetched because the sinks already held them: no longer pending either."""
    series_rows: Mapping[tuple[str, str, str], int]
    """Rows received per (dataset, region, series)."""


def _window_key(window: Window) -> tuple[str, str, str, str, str]:
    return (window.source, window.dataset, window.start.isoformat(), window.end.isoformat(),
            json.dumps(list(window.regions)))


class Catalog:
    """Runs, windows, rows received and pending windows of one home."""

    def __init__(self, home: Home | Path) -> None:
        self.path = Home.of(home).catalog
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = connect(self.path, lambda db: db.executescript(_SCHEMA))
        except sqlite3.OperationalError as exc:
            raise StorageError(f"could not open the catalog {self.path}: {exc}; check free disk space and "
                               "permissions") from None
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"the catalog {self.path} is unreadable ({exc}); move it aside and re-run "
                               "(the stored data does not depend on it)") from None

    def close(self) -> None:
        self._db.close()

    # -- writing -----------------------------------------------------------------------------------

    def begin_run(self, run_id: str, *, command: str, started_at: datetime, config: Mapping[str, Any],
                  plugins: Mapping[str, Any], windows: Iterable[Window]) -> None:
        """Record a starting run and mark each of its windows pending until it is stored."""
        with self._transaction():
            self._db.execute("INSERT INTO runs VALUES (?, ?, ?, NULL, ?, ?, ?, ?, NULL)",
                             (run_id, command, started_at.isoformat(), RunStatus.RUNNING, os.getpid(),
                              json.dumps(config, default=str), json.dumps(plugins)))
            self._db.executemany("INSERT OR IGNORE INTO pending VALUES (?, ?, ?, ?, ?, ?, 'not yet stored')",
                                 [(*_window_key(w), run_id) for w in windows])

    def finish_run(self, run: FinishedRun) -> None:
        """Record the outcome of every window; unmark the pending windows that were stored."""
        with self._transaction():
            self._db.execute("UPDATE runs SET finished_at = ?, status = ?, rows_stored = ? WHERE run_id = ?",
                             (run.finished_at.isoformat() if run.finished_at else None, run.status,
                              run.rows_stored, run.run_id))
            for outcome in run.windows:
                key = _window_key(outcome.spec)
                self._db.execute(
                    "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.run_id, *key, str(outcome.status), outcome.rows, int(outcome.from_cache), outcome.seconds,
                     outcome.error, json.dumps(list(outcome.requests)),
                     json.dumps([t.isoformat() for t in outcome.retrieved_at])))
                if outcome.spec in run.stored:
                    self._db.execute(_UNMARK_PENDING, key)
                else:
                    self._db.execute(f"UPDATE pending SET reason = ?, run_id = ? WHERE {_IS_WINDOW}",
                                     (outcome.error or str(outcome.status), run.run_id, *key))
            self._db.executemany(_UNMARK_PENDING, [_window_key(w) for w in run.found_stored])
            self._db.executemany("INSERT INTO rows_received VALUES (?, ?, ?, ?, ?)",
                                 [(run.run_id, d, r, s, n) for (d, r, s), n in sorted(run.series_rows.items())])
            fault_point("catalog_before_commit")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (a crash leaves the previous state)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (an I/O error does)
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"could not write the catalog: {exc}; check free disk space") from None
            raise

    # -- reading -----------------------------------------------------------------------------------

    def pending(self, source: str, datasets: Sequence[str]) -> list[Window]:
        """Windows of ``source`` (and these datasets) that earlier runs planned but did not store."""
        rows = self._db.execute("SELECT dataset, start, end, regions FROM pending WHERE source = ? ORDER BY start",
                                (source,)).fetchall()
        return [Window(source, d, datetime.fromisoformat(s), datetime.fromisoformat(e), tuple(json.loads(r)))
                for d, s, e, r in rows if d in datasets]

    def pending_reasons(self) -> list[dict]:
        rows = self._db.execute("SELECT source, dataset, start, end, regions, run_id, reason FROM pending "
                                "ORDER BY source, dataset, start").fetchall()
        return [{"source": s, "dataset": d, "start": a, "end": b, "regions": json.loads(r), "run_id": run,
                 "reason": why} for s, d, a, b, r, run, why in rows]

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Newest first; a ``running`` run whose process has died is reported as ``crashed``."""
        rows = self._db.execute("SELECT run_id, command, started_at, finished_at, status, pid, rows_stored FROM runs "
                                "ORDER BY started_at DESC LIMIT ?", (-1 if limit is None else limit,)).fetchall()
        return [RunRecord(run_id, command, started, finished, _run_status(status, pid), stored)
                for run_id, command, started, finished, status, pid, stored in rows]

    def last_outcomes(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(dataset, region) -> (run id, status) of the newest window that asked for it; region ``*``
        for windows that asked for all regions."""
        latest = {}
        rows = self._db.execute("SELECT dataset, regions, run_id, status FROM windows ORDER BY rowid")
        for dataset, regions, run_id, status in rows:  # oldest first: later ones replace earlier ones
            for region in json.loads(regions) or ["*"]:
                latest[(dataset, region)] = (run_id, status)
        return latest

    def windows(self, run_id: str | None = None) -> list[dict]:
        query = "SELECT * FROM windows" + (" WHERE run_id = ?" if run_id else "") + " ORDER BY rowid"
        return _decoded(self._db.execute(query, (run_id,) if run_id else ()))

    def trace(self, *, source: str, dataset: str, region: str, ts: datetime, retrieved_at: datetime) -> list[dict]:
        """The window(s), with their run and requests, that stored a row: same dataset, a range holding
        ``ts``, the row's region asked for (or all regions), and a batch retrieved at ``retrieved_at``."""
        candidates = self._db.execute(
            "SELECT w.*, r.command FROM windows w JOIN runs r USING (run_id) WHERE w.source = ? AND w.dataset = ? "
            "AND w.start <= ? AND w.end > ? AND w.rows > 0 ORDER BY w.rowid",
            (source, dataset, ts.isoformat(), ts.isoformat()))
        return [window for window in _decoded(candidates)
                if (not window["regions"] or region in window["regions"])
                and retrieved_at.isoformat() in window["retrieved_at"]]


def _decoded(cursor: sqlite3.Cursor) -> list[dict]:
    """Window rows as dicts, their JSON columns decoded."""
    names = [c[0] for c in cursor.description]
    windows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for window in windows:
        for name in ("regions", "requests", "retrieved_at"):
            window[name] = json.loads(window[name])
    return windows


def _run_status(recorded: str, pid: int) -> RunStatus:
    status = RunStatus(recorded)
    return RunStatus.CRASHED if status is RunStatus.RUNNING and not _alive(pid) else status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
