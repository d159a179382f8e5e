"""Opening the home's SQLite databases (catalog, raw cache) when other processes may be opening them too."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

WAIT_SECONDS = 30.0


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds a lock (a wait, not damage)."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def connect(path: Path, setup: Callable[[sqlite3.Connection], object], *,
            wait: float = WAIT_SECONDS) -> sqlite3.Connection:
    """Open ``path`` in WAL mode and run ``setup`` (its schema) on it, waiting up to ``wait`` seconds for locks.

    SQLite's busy timeout does not cover setup: two processes that open a new database at once can each
    hold a read lock while asking for a write lock, and SQLite then fails one at once with "database is
    locked" rather than wait. That process retries here from a fresh connection.
    """
    deadline = time.monotonic() + wait
    pause = 0.01
    while True:
        db = sqlite3.connect(path, timeout=wait, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            setup(db)
            return db
        except sqlite3.Error as exc:
            db.close()
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
        except BaseException:
            db.close()
            raise
        time.sleep(pause)
        pause = min(2 * pause, 0.5)
