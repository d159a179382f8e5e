from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from energy_core.ingest.cache import RawCache, request_key
from energy_core.ingest.catalog import Catalog

NOW = datetime(2026, 1, 31, tzinfo=UTC)


def put(cache: RawCache, key: str, fetched_at: datetime) -> None:
    cache.put(key, namespace="host", request="/x?a=1", status=200, content_type="application/json", body=b"{}",
              fetched_at=fetched_at)


def test_roundtrip_and_retention(tmp_path):
    cache = RawCache(tmp_path)
    put(cache, "fresh", NOW - timedelta(days=1))
    put(cache, "old", NOW - timedelta(days=31))
    put(cache, "future", NOW + timedelta(days=1))
    assert cache.get("fresh", now=NOW).body == b"{}"
    assert cache.get("old", now=NOW) is None and cache.get("future", now=NOW) is None
    assert cache.prune(now=NOW) == 2
    assert len(cache) == 1
    cache.close()


def test_key_ignores_nothing_but_namespace_and_request():
    assert request_key("a", "/x?b=1") == request_key("a", "/x?b=1")
    assert request_key("a", "/x?b=1") != request_key("simulator:eia", "/x?b=1")


def test_corrupt_database_is_quarantined_and_replaced(tmp_path):
    (tmp_path / "responses.sqlite").write_bytes(b"this is not a database" * 100)
    cache = RawCache(tmp_path)
    put(cache, "k", NOW)
    assert cache.get("k", now=NOW) is not None
    assert len(list(tmp_path.glob("responses.sqlite.corrupt-*"))) == 1
    cache.close()


def _open_home_databases(home: str, barrier, outcomes) -> None:
    barrier.wait()
    try:
        Catalog(Path(home)).close()
        RawCache(Path(home) / "raw").close()
        outcomes.put("opened")
    except Exception as exc:  # the parent reports what went wrong
        outcomes.put(repr(exc))


def test_processes_opening_a_new_home_at_once_all_wait_their_turn_and_the_cache_is_kept(tmp_path):
    """Two runs started together once failed on "database is locked" (SQLite does not wait out that case),
    and the raw cache took the lock for damage and moved itself aside."""
    context = multiprocessing.get_context("fork")
    for trial in range(15):
        home = tmp_path / str(trial)
        barrier, outcomes = context.Barrier(6), context.Queue()
        children = [context.Process(target=_open_home_databases, args=(str(home), barrier, outcomes))
                    for _ in range(6)]
        for child in children:
            child.start()
        results = [outcomes.get(timeout=60) for _ in children]
        for child in children:
            child.join()
        assert results == ["opened"] * 6, results
        assert not list((home / "raw").glob("*corrupt*"))
