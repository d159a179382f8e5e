"""Cases 1-12 of the fault catalogue: network and HTTP faults, produced by a scripted EIA simulator
on 127.0.0.1 and driven through the real source, HTTP client, cache and store.

Timing is checked on a fake clock (the client's injected sleep); end-to-end runs use real sleeps
kept short by small backoffs.
"""

from __future__ import annotations

import email.utils
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from energy_weather.simulator import WeatherSimulator

from energy_core.errors import QuotaExhaustedError, ResponseTooLargeError, SourceUnavailableError
from energy_core.ingest.cache import RawCache
from energy_core.ingest.catalog import Catalog
from energy_core.ingest.retry import RetryPolicy
from energy_core.plugin.interfaces import FetchRequest
from energy_core.plugin.simulator import SimResponse
from energy_core.storage.lake import Lake
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import JAN, FaultyEia, FaultyWeather, json_response, run_eia, run_weather, values
from tests.scripted import ScriptedServer

OVER_RATE = '{"error": {"code": "OVER_RATE_LIMIT", "message": "You have exceeded your rate limit."}}'
UNAVAILABLE = '{"error": "Service temporarily unavailable.", "code": 503}'
REQUEST = FetchRequest(*JAN, ("PACW",), ("eia.region",))


def fetch_rows(source) -> int:
    (window,) = source.plan(REQUEST)
    return sum(batch.rows.height for batch in source.fetch(window))


def cached_entries(home) -> int:
    cache = RawCache(home / "raw")
    try:
        return len(cache)
    finally:
        cache.close()


@pytest.mark.fault(1)
def test_f01_retry_after_seconds_is_waited_with_jitter_and_the_rows_land_once(
        eia_source, tmp_path, fake_time, clean, caplog):
    """The catalogue asks for attempts to be logged without the query string, to keep keys out of
    logs. energy keeps credentials out of the query it builds and redacts them by value, so the log
    keeps the (credential-free) query, which is what a user needs to see which request failed."""
    with FaultyEia(json_response(429, OVER_RATE, **{"Retry-After": "7"})) as sim:
        source = eia_source(sim, tmp_path / "client")
        with caplog.at_level(logging.INFO, logger="energy_core.ingest.client"):
            assert fetch_rows(source) == clean.height
    assert 7 <= max(fake_time.sleeps) <= 8, "the server's 7 s plus at most 1 s of jitter"
    assert "attempt 2 of 4" in caplog.text and sim.api_key not in caplog.text

    with FaultyEia(json_response(429, OVER_RATE, **{"Retry-After": "0"})) as sim:
        report = run_eia(tmp_path / "home", sim)
    assert report.ok and report.requests["eia"]["retries"] == 1
    assert values(tmp_path / "home").equals(clean)


@pytest.mark.fault(2)
@pytest.mark.parametrize(("header", "low", "high"), [
    ("http-date 30 s ahead", 28, 32),
    ("http-date in the past", 0, 1),
    ("-5", 0, 1),
    ("soon", 0.5, 1.0),  # garbage: exponential backoff's first step (base 1 s, half of it jittered)
])
def test_f02_odd_retry_after_values_never_give_a_negative_or_unbounded_wait(
        eia_source, tmp_path, fake_time, header, low, high):
    if header.startswith("http-date"):
        offset = timedelta(seconds=30) if "ahead" in header else -timedelta(hours=1)
        header = email.utils.format_datetime(datetime.now(UTC) + offset, usegmt=True)
    with FaultyEia(json_response(429, OVER_RATE, **{"Retry-After": header})) as sim:
        source = eia_source(sim, tmp_path, fake_time, retry=RetryPolicy(max_attempts=2, backoff_base=1.0))
        assert fetch_rows(source) > 0
    (wait,) = [s for s in fake_time.sleeps if s >= 0.05] or [0.0]
    assert low <= wait <= high
    assert all(0 <= s <= 120 for s in fake_time.sleeps)


@pytest.mark.fault(4)
def test_f04_503_then_502_then_200_stores_one_copy_after_exponential_backoff(eia_source, tmp_path, fake_time, clean):
    with FaultyEia(json_response(503, UNAVAILABLE), json_response(502, b"Bad Gateway")) as sim:
        source = eia_source(sim, tmp_path / "client", fake_time, retry=RetryPolicy(backoff_base=1.0))
        assert fetch_rows(source) == clean.height
    first, second = [s for s in fake_time.sleeps if s >= 0.05]
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0, "doubling, with the upper half jittered"

    with FaultyEia(json_response(503, UNAVAILABLE), json_response(502, b"Bad Gateway")) as sim:
        report = run_eia(tmp_path / "home", sim)
    assert report.ok and report.requests["eia"]["retries"] == 2
    assert values(tmp_path / "home").equals(clean)


@pytest.mark.fault(5)
def test_f05_persistent_500_gives_up_keeps_the_old_partition_and_caches_nothing(eia_source, tmp_path, fake_time):
    home = tmp_path / "home"
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(home, sim).ok
    versions, entries = Lake(home).versions(), cached_entries(home)

    later = (JAN[1], JAN[1] + timedelta(days=3))  # the same January partition
    with FaultyEia(*[json_response(500, UNAVAILABLE)] * 10) as sim:
        report = run_eia(home, sim, span=later, resume=False)
    (window,) = report.windows
    assert window.status == "failed" and "gave up after 4 attempts" in window.error
    assert Lake(home).versions() == versions and cached_entries(home) == entries, "no commit, nothing cached"
    assert not report.ok  # the CLI turns this into exit status 1

    with FaultyEia(*[json_response(500, UNAVAILABLE)] * 100) as sim:  # the total deadline ends it first
        source = eia_source(sim, tmp_path / "client", fake_time,
                            retry=RetryPolicy(max_attempts=100, backoff_base=4.0, deadline=30.0))
        with pytest.raises(SourceUnavailableError, match="gave up after"):
            fetch_rows(source)
        assert len(sim.requests) < 10 and fake_time.now <= 30.0


@pytest.mark.fault(6)
@pytest.mark.parametrize(("status", "body", "expected"), [
    (403, '{"error": {"code": "API_KEY_INVALID", "message": "An invalid api_key was supplied."}}',
     "EIA rejected the API key (HTTP 403"),
    (401, '{"error": {"code": "API_KEY_MISSING", "message": "No api_key was supplied."}}',
     "EIA rejected the API key (HTTP 401"),
    (400, '{"error": "Invalid facet \'respondentx\' provided.", "code": 400}', "Invalid facet"),
])
def test_f06_refused_key_or_request_is_not_retried_not_cached_and_hides_the_key(tmp_path, status, body, expected):
    with FaultyEia(*[json_response(status, body)] * 5) as sim:
        report = run_eia(tmp_path, sim)
    (window,) = report.windows
    assert window.status == "failed" and expected in window.error
    assert sim.api_key not in window.error
    assert len(sim.requests) == 1, "no retry"
    assert cached_entries(tmp_path) == 0


@pytest.mark.fault(7)
def test_f07_refused_connections_and_timeouts_are_retried_then_reported(eia_source, tmp_path, fake_time, clean):
    """A refused connection and a read timeout are real sockets on 127.0.0.1; a connect timeout
    cannot be produced on loopback, so httpx's own exception comes from a mock transport."""
    with EiaSimulator() as sim:  # for its key; the URL points at a closed port
        report = run_eia(tmp_path / "refused", sim, env={"ENERGY_EIA_URL": "http://127.0.0.1:9/v2"})
    (window,) = report.windows
    assert window.status == "failed" and "gave up after 4 attempts" in window.error
    assert "connection failed" in window.error

    slow = SimResponse(200, b"{}", {"Content-Type": "application/json"}, delay_s=1.0)
    with FaultyEia(slow) as sim:  # read timeout, then a normal answer
        source = eia_source(sim, tmp_path / "client", fake_time, timeout=httpx.Timeout(0.3))
        assert fetch_rows(source) == clean.height
        assert source.http.stats.retries == 1

    attempts = []

    def refuse_to_connect(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectTimeout("connect timed out", request=request)

    with EiaSimulator(respondents=("PACW",)) as sim:
        source = eia_source(sim, tmp_path / "timeout", fake_time, transport=httpx.MockTransport(refuse_to_connect))
        with pytest.raises(SourceUnavailableError, match=r"timed out .*ConnectTimeout"):
            fetch_rows(source)
    assert len(attempts) == 4


@pytest.mark.fault(8)
def test_f08_a_body_cut_short_is_retried_and_never_cached_or_parsed(tmp_path, clean):
    def cut(real: SimResponse) -> SimResponse:
        return replace(real, truncate_at=len(real.body) // 2)

    with FaultyEia(cut, cut) as sim:
        report = run_eia(tmp_path, sim)
    assert report.ok and report.requests["eia"]["retries"] == 2
    assert values(tmp_path).equals(clean)
    cache = RawCache(tmp_path / "raw")
    try:
        (entry,) = [cache.get(key) for (key,) in cache._db.execute("SELECT key FROM responses")]
    finally:
        cache.close()
    assert entry.body.endswith(b"}") and b'"total"' in entry.body  # the whole, good answer


@pytest.mark.fault(9)
def test_f09_a_slow_drip_is_cut_by_the_attempt_deadline_and_retried(eia_source, tmp_path, fake_time, clean):
    drip = SimResponse(200, b"{" + b" " * 2000 + b"}", {"Content-Type": "application/json"}, drip_s=0.01)
    with FaultyEia(drip) as sim:
        source = eia_source(sim, tmp_path, fake_time, retry=RetryPolicy(attempt_timeout=0.5))
        assert fetch_rows(source) == clean.height
    assert source.http.stats.retries == 1


@pytest.mark.fault(10)
def test_f10_a_body_over_the_cap_is_refused_without_reading_it(eia_source, tmp_path, fake_time):
    huge = SimResponse(200, b"[" + b"0," * 600_000 + b"0]", {"Content-Type": "application/json"})
    with FaultyEia(huge) as sim:
        source = eia_source(sim, tmp_path, fake_time, max_body_bytes=1_000_000)
        with pytest.raises(ResponseTooLargeError, match="exceeds the 1000000 byte cap"):
            fetch_rows(source)
    assert len(sim.requests) == 1 and source.http.stats.bytes_received == 0
    assert cached_entries(tmp_path) == 0


@pytest.mark.fault(11)
def test_f11_an_html_page_with_200_is_retried_and_not_cached(tmp_path, clean):
    """The catalogue says "transient once"; energy retries it within the normal attempt budget,
    like any transient answer: a maintenance page usually lasts longer than one retry."""
    maintenance = SimResponse(200, b"<html><body>Down for maintenance</body></html>", {"Content-Type": "text/html"})
    json_as_html = json_response(200, b"<!DOCTYPE html><html>proxy error</html>")  # the wrong Content-Type
    with FaultyEia(maintenance, json_as_html) as sim:
        report = run_eia(tmp_path, sim)
    assert report.ok and report.requests["eia"]["retries"] == 2
    assert values(tmp_path).equals(clean)
    assert cached_entries(tmp_path) == 1


@pytest.mark.fault(12)
@pytest.mark.parametrize("scheme", ["other host", "plain http"])
def test_f12_redirects_are_not_followed_and_the_key_goes_nowhere_else(tmp_path, scheme):
    with ScriptedServer() as elsewhere:
        target = f"{elsewhere.url}/v2/electricity/rto/region-data/data"
        if scheme == "plain http":
            target = target.replace("127.0.0.1", "localhost")
        with FaultyEia(SimResponse(301, b"", {"Location": target})) as sim:
            report = run_eia(tmp_path, sim)
        assert elsewhere.requests == []
    (window,) = report.windows
    assert window.status == "failed" and "redirect (HTTP 301), which is not followed" in window.error
    assert len(sim.requests) == 1


WINTER = (datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))  # two yearly windows


@pytest.mark.fault(3)
def test_f03_exhausted_quota_stops_the_source_without_sleeping_and_the_next_run_resumes(tmp_path, eia_source,
                                                                                        fake_time):
    quota = json_response(429, '{"error": true, "reason": "Daily API request limit exceeded. Please try again '
                               'tomorrow."}')
    home = tmp_path / "home"
    with FaultyWeather(quota) as sim:
        report = run_weather(home, sim, WINTER)
    statuses = sorted(w.status for w in report.windows)
    [spent] = [w for w in report.windows if w.status == "failed"]
    assert "quota exhausted" in spent.error and not report.ok
    assert statuses in (["failed", "skipped"], ["failed", "ok"]), "the other window was skipped, or already in flight"
    assert len(sim.requests) == 1 + statuses.count("ok"), "no request went out after the quota answer"
    catalog = Catalog(home)
    try:
        assert len(catalog.pending_reasons()) == 2 - statuses.count("ok")
    finally:
        catalog.close()

    december_failed = report.windows[0].status != "ok"  # windows in plan order: December's first
    with WeatherSimulator() as sim:  # tomorrow: a run over January alone also fetches December's window
        resumed = run_weather(home, sim, (datetime(2024, 1, 1, tzinfo=UTC), WINTER[1]))
        assert resumed.ok and resumed.resumed == int(december_failed)
        assert run_weather(tmp_path / "clean", sim, WINTER).ok
    assert values(home).equals(values(tmp_path / "clean"))

    too_long = json_response(429, OVER_RATE, **{"Retry-After": "3600"})  # EIA asking for more than the cap
    with FaultyEia(too_long) as sim:
        source = eia_source(sim, tmp_path / "client")
        with pytest.raises(QuotaExhaustedError, match="more than the 120 s cap"):
            fetch_rows(source)
    assert fake_time.sleeps == []
