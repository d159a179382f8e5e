from __future__ import annotations

from datetime import UTC, datetime, timedelta

from energy_core.ingest.cache import RawCache, request_key

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
