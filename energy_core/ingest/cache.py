"""Raw response cache: every response body with its (credential-free) request, in SQLite.

Bodies are stored after secrets were redacted from them, compressed. The key is a hash of the
request without credentials, so a cache can be replayed (``--offline``) without the key.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from energy_core.crash_points import fault_point
from energy_core.errors import StorageError
from energy_core.ingest.database import WAIT_SECONDS, connect, is_busy

logger = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=30)
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    request TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    fetched_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_fetched_at ON responses (fetched_at);
"""


_ZSTD = b"energy-zstd:"
"""Opens a body compressed by :func:`compress`: then its length (8 bytes, little-endian) and a zstd frame.
Anything else is a zlib stream, as bodies were stored before (still read)."""


def compress(body: bytes) -> bytes:
    """zstd at level 1: a third of zlib's CPU time for a JSON body (1.1 against 2.9 s per GB measured
    on EIA pages), a smaller result (4.4% of the JSON against 5.3%), and done without the GIL."""
    import pyarrow as pa  # here, not at import: `energy cache` commands need no pyarrow

    return b"".join((_ZSTD, len(body).to_bytes(8, "little"), pa.compress(body, "zstd", asbytes=True)))


def decompress(blob: bytes) -> bytes:
    """The body :func:`compress` (or an earlier zlib) stored; raises ``ValueError``, ``OSError`` or
    ``zlib.error`` for a damaged one."""
    if not blob.startswith(_ZSTD):
        return zlib.decompress(blob)
    import pyarrow as pa

    start = len(_ZSTD) + 8
    size = int.from_bytes(blob[len(_ZSTD):start], "little")
    body = pa.decompress(blob[start:], size, "zstd", asbytes=True)
    if len(body) != size:
        raise ValueError(f"a body of {len(body)} bytes where {size} were stored")
    return body


def request_key(namespace: str, request: str) -> str:
    """The cache key: a hash of where the request went and what it asked, without credentials."""
    return hashlib.sha256(f"{namespace}\n{request}".encode()).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    request: str
    status: int
    content_type: str
    body: bytes
    fetched_at: datetime


def _set_up(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA synchronous=NORMAL")  # a commit survives a crash of energy; a power cut may lose the
    # last few, which the next run fetches again: a cache need not pay a disk flush per response
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, _SCHEMA_VERSION):
        raise sqlite3.DatabaseError(f"unknown cache schema version {version}")
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")


class RawCache:
    """SQLite-backed cache under ``<home>/raw/``. Safe to share between threads of one process."""

    def __init__(self, directory: Path, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "responses.sqlite"
        self.retention = retention
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return connect(self.path, _set_up)
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):
                raise StorageError(f"the raw cache {self.path} stayed locked by another process for "
                                   f"{WAIT_SECONDS:.0f} s; run again once it has finished") from None
            self._quarantine(exc)
            return connect(self.path, _set_up)

    def _quarantine(self, exc: Exception) -> None:
        """Move an unreadable database (and its journal files) aside; the cache starts empty."""
        stamp = f"corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        logger.warning("raw cache %s is unreadable (%s); moved aside as %s.%s", self.path, exc, self.path.name, stamp)
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.rename(part.with_name(f"{part.name}.{stamp}"))


    def get(self, key: str, *, now: datetime | None = None) -> CachedResponse | None:
        """Return a live entry, or None when absent, expired or unreadable (a miss: the caller refetches)."""
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT request, status, content_type, body, fetched_at FROM responses WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                if is_busy(exc):  # another process holds the database longer than the wait: refetch
                    return None
                self._db.close()
                self._quarantine(exc)
                self._db = connect(self.path, _set_up)
                return None
        if row is None:
            return None
        try:
            fetched_at = datetime.fromisoformat(row[4])
            body = decompress(row[3])
        except (ValueError, TypeError, OSError, zlib.error) as exc:
            logger.warning("raw cache entry for %s is damaged (%s); dropping it and refetching", row[0], exc)
            with self._lock:
                self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
            return None
        if not self._is_live(fetched_at, now or datetime.now(UTC)):
            return None
        return CachedResponse(row[0], row[1], row[2], body, fetched_at)

    def put(self, key: str, *, namespace: str, request: str, status: int, content_type: str, body: bytes,
            fetched_at: datetime) -> None:
        """Store one response in a single transaction: after a crash it is there whole or not at all."""
        blob = compress(body)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, namespace, request, status, content_type, blob, fetched_at.isoformat()),
                )
            except sqlite3.Error as exc:
                raise StorageError(f"could not write the raw cache {self.path}: {exc}; free disk space, or run "
                                   "`energy cache prune`") from None
        fault_point("raw_cached")

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete entries older than the retention period (or stamped in the future); return how many."""
        now = now or datetime.now(UTC)
        oldest = (now - self.retention).isoformat()
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM responses WHERE fetched_at < ? OR fetched_at > ?", (oldest, now.isoformat())
            )
            fault_point("cache_prune_mid")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")
        return cursor.rowcount

    def _is_live(self, fetched_at: datetime, now: datetime) -> bool:
        return now - self.retention <= fetched_at <= now

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
