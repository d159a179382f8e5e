"""Cases 36-38 of the fault catalogue: a damaged raw cache, retention against odd clocks, and a
canary API key driven through every failing path."""

from __future__ import annotations

import logging
import sqlite3
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest

from energy_core.ingest.cache import RawCache
from energy_core.ingest.retry import RetryPolicy
from energy_core.plugin.simulator import SimResponse
from energy_eia.simulator import EiaSimulator
from energy_eia.source import EiaSource
from tests.faults.conftest import FaultyEia, json_response, run_eia, values
from tests.processes import energy
from tests.scripted import ScriptedServer


def damage(path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "malformed":
        data = bytearray(path.read_bytes())
        data[4096:8192] = b"\xde\xad\xbe\xef" * 1024  # a b-tree page overwritten
        path.write_bytes(bytes(data))
    elif how == "wrong schema version":
        db = sqlite3.connect(path)
        db.execute("PRAGMA user_version = 99")
        db.close()
    else:
        db = sqlite3.connect(path)
        if how == "entry not zlib":
            db.execute("UPDATE responses SET body = ?", (b"not zlib at all",))
        else:  # half-written JSON that decompresses fine
            db.execute("UPDATE responses SET body = ?", (zlib.compress(b'{"response": {"total": "288", "da'),))
        db.commit()
        db.close()


@pytest.mark.fault(36)
@pytest.mark.parametrize("how", ["truncated", "malformed", "wrong schema version", "entry not zlib",
                                 "entry half-written json"])
def test_f36_a_damaged_cache_is_a_miss_set_aside_and_refetched(tmp_path, how):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
        clean = values(tmp_path)
        cache_file = tmp_path / "raw" / "responses.sqlite"
        db = sqlite3.connect(cache_file)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, so damage reaches it
        db.close()
        damage(cache_file, how)
        before = len(sim.requests)
        report = run_eia(tmp_path, sim, resume=False, incremental=False)
    assert report.ok, report.failed
    assert len(sim.requests) == before + 1, "refetched, not parsed from the damaged bytes"
    assert values(tmp_path).equals(clean)
    if how in ("truncated", "malformed", "wrong schema version"):
        assert list((tmp_path / "raw").glob("responses.sqlite.corrupt-*")), "the bad file is kept aside"
    cache = RawCache(tmp_path / "raw")
    try:
        assert len(cache) == 1 and cache._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        cache.close()


@pytest.mark.fault(37)
def test_f37_retention_goes_by_the_stored_fetch_time_and_distrusts_the_future(tmp_path):
    """Entries live in one SQLite file, so there are no file mtimes to trust or distrust; a prune is
    one transaction, and a running writer's transaction makes it wait (SQLite's lock), not skip."""
    cache = RawCache(tmp_path / "raw")
    now = datetime.now(UTC)
    for key, age in (("fresh", timedelta(days=1)), ("old", timedelta(days=31)), ("future", -timedelta(days=2))):
        cache.put(key, namespace="x", request=f"/{key}", status=200, content_type="application/json", body=b"{}",
                  fetched_at=now - age)
    assert cache.get("fresh") is not None
    assert cache.get("old") is None, "expired by its fetch time, whatever the file's mtime"
    assert cache.get("future") is None, "stamped in the future: the clock moved back; not trusted"
    clock_went_back = now - timedelta(days=3)  # everything fetched since then now looks like the future
    assert cache.get("fresh", now=clock_went_back) is None
    cache.close()

    result = energy("cache", "prune", "--home", str(tmp_path))
    assert result.returncode == 0 and "2" in result.stdout, result.stdout
    cache = RawCache(tmp_path / "raw")
    try:
        assert len(cache) == 1 and cache.get("fresh") is not None
    finally:
        cache.close()


def leaks(canary: str, data: str | bytes) -> list[str]:
    data = data.encode() if isinstance(data, str) else data
    return [form for form in {canary, quote(canary, safe=""), quote_plus(canary)} if form.encode() in data]


@pytest.mark.fault(38)
def test_f38_a_canary_key_through_every_failing_path_appears_nowhere(tmp_path, caplog):
    """energy records no cassettes (the recorded responses in tests/data are read-only inputs),
    and holds the key as a plain string registered for redaction rather than a SecretStr: redaction
    by value also covers the places a SecretStr cannot (bodies echoing the key, URLs, tracebacks)."""
    canary = f"CANARY-7f3e9b-{uuid.uuid4().hex}+/="
    home = tmp_path / "home"
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    texts: list[str] = []

    def cut(real: SimResponse) -> SimResponse:
        return replace(real, truncate_at=len(real.body) // 2)

    over = '{"error": {"code": "OVER_RATE_LIMIT", "message": "You have exceeded your rate limit."}}'
    scripts = {  # cases 1-12, each ending in success or a typed failure
        "throttled": [json_response(429, over, **{"Retry-After": "0"})],
        "odd retry-after": [json_response(429, over, **{"Retry-After": "soon"})],
        "5xx": [json_response(503, "{}"), json_response(502, b"Bad Gateway")],
        "persistent 500": [json_response(500, '{"error": "boom", "code": 500}')] * 6,
        "refused key": [json_response(403, '{"error": {"code": "API_KEY_INVALID", "message": "bad key"}}')],
        "truncated": [cut, cut],
        "slow": [SimResponse(200, b"{}", delay_s=0.7)],
        "html": [SimResponse(200, b"<html>maintenance</html>", {"Content-Type": "text/html"})],
        "too large": [SimResponse(200, b"{" + b" " * 2_000_000 + b"}")],
        "quota": [json_response(429, over, **{"Retry-After": "99999"})],
    }
    retry = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02, attempt_timeout=0.5)
    try:
        with caplog.at_level(logging.DEBUG), ScriptedServer() as elsewhere:
            scripts["redirect"] = [SimResponse(301, b"", {"Location": f"{elsewhere.url}/v2/steal"})]
            for name, script in scripts.items():
                with FaultyEia(*script, api_key=canary) as sim:
                    report = run_eia(home, sim, retry=retry, refresh=True, resume=False)
                texts += [name, repr(report), str(report.to_json())] + [w.error or "" for w in report.windows]
                assert all(r.first("api_key") == canary for r in sim.requests)
            assert elsewhere.requests == [], "the key never went to a second host"
            with FaultyEia(api_key=canary) as sim:
                texts.append(repr(EiaSource.simulator({})))
                failing = energy("--debug", "run", "--source", "eia", "--region", "PACW", "--start", "2024-01-01",
                                 "--end", "2024-01-02", "--home", str(home), "--refresh",
                                 env={**sim.env(), "EIA_API_KEY": canary + "-wrong", "PYTHONFAULTHANDLER": "1"})
                working = energy("--debug", "run", "--source", "eia", "--region", "PACW", "--start", "2024-01-01",
                                 "--end", "2024-01-02", "--home", str(home), "--refresh",
                                 env={**sim.env(), "EIA_API_KEY": canary})
            help_text = energy("run", "--help", env={"EIA_API_KEY": canary}).stdout
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert failing.returncode == 1 and "EIA rejected the API key" in failing.stderr
    assert working.returncode == 0, working.stderr
    assert failing.args[-1] != canary and canary not in " ".join(working.args), "not in ps output"

    found = {f"file {p.relative_to(home)}": leaks(canary, p.read_bytes()) for p in home.rglob("*") if p.is_file()}
    found |= {
        "caplog": leaks(canary, caplog.text), "log file": leaks(canary, log_file.read_bytes()),
        "reports, reprs, errors": leaks(canary, "\n".join(texts)), "help": leaks(canary, help_text),
        **{f"cli {name} {stream}": leaks(canary, getattr(result, stream))
           for name, result in (("failing", failing), ("working", working)) for stream in ("stdout", "stderr")},
    }
    assert (home / "catalog.sqlite").exists() and list(home.rglob("*.lance")), "the test reached every store"
    assert {where: forms for where, forms in found.items() if forms} == {}
