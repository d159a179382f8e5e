"""Bodies in the raw cache: zstd now, the zlib of earlier caches still read, damage a miss."""

from __future__ import annotations

import sqlite3
import zlib
from datetime import UTC, datetime

import pytest

from energy_core.ingest.cache import RawCache

NOW = datetime(2026, 1, 31, tzinfo=UTC)
BODY = b'{"response": {"total": "2", "data": [' + b'{"period": "2026-01-01T01", "value": 1.5},' * 500 + b"]}}"


def put(cache: RawCache, key: str) -> None:
    cache.put(key, namespace="host", request="/x", status=200, content_type="application/json", body=BODY,
              fetched_at=NOW)


def set_blob(cache: RawCache, key: str, blob: bytes) -> None:
    db = sqlite3.connect(cache.path)
    db.execute("UPDATE responses SET body = ? WHERE key = ?", (blob, key))
    db.commit()
    db.close()


def test_a_body_comes_back_as_stored_and_smaller(tmp_path):
    cache = RawCache(tmp_path)
    put(cache, "k")
    assert cache.get("k", now=NOW).body == BODY
    db = sqlite3.connect(cache.path)
    (stored,) = db.execute("SELECT length(body) FROM responses").fetchone()
    db.close()
    assert stored < len(BODY) / 20
    cache.close()


def test_a_cache_written_with_zlib_is_still_read(tmp_path):
    cache = RawCache(tmp_path)
    put(cache, "k")
    set_blob(cache, "k", zlib.compress(BODY, 3))
    assert cache.get("k", now=NOW).body == BODY
    cache.close()


@pytest.mark.parametrize("damage", [lambda blob: blob[:-10], lambda blob: blob[:20] + b"\0" * 40,
                                    lambda blob: blob[:12] + (10**9).to_bytes(8, "little") + blob[20:]])
def test_a_damaged_body_is_a_miss_and_dropped(tmp_path, damage):
    cache = RawCache(tmp_path)
    put(cache, "k")
    db = sqlite3.connect(cache.path)
    (blob,) = db.execute("SELECT body FROM responses").fetchone()
    db.close()
    set_blob(cache, "k", damage(blob))
    assert cache.get("k", now=NOW) is None
    assert len(cache) == 0
    cache.close()
