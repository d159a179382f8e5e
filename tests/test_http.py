from __future__ import annotations

import email.utils
import itertools
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from energy_core.errors import (
    AuthError,
    CacheMissError,
    InvalidRequestError,
    QuotaExhaustedError,
    ResponseTooLargeError,
    SourceUnavailableError,
    UnexpectedPayloadError,
    WouldFetchError,
)
from energy_core.ingest.budget import TokenBucket
from energy_core.ingest.cache import RawCache
from energy_core.ingest.client import Answer, FetchMode, HttpClient
from energy_core.ingest.retry import RetryPolicy, parse_retry_after
from energy_core.plugin.interfaces import CacheMode, RateBudget
from energy_core.plugin.simulator import SimResponse
from energy_core.testing import http_client

OK = SimResponse(200, b'{"ok": true}', {"Content-Type": "application/json"})
KEY = "CANARY-http-0123456789abcdef"


def parse_json(response):
    if not response.body.startswith(b"{"):
        raise UnexpectedPayloadError("not JSON")
    return orjson.loads(response.body)


@pytest.fixture
def client(fake_time):
    """Builds HttpClients that record their waits instead of sleeping; closes them afterwards."""
    made: list[HttpClient] = []

    def make(cache=None, **kwargs) -> HttpClient:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.5))
        made.append(http_client("test", RateBudget(1000, burst=1000), cache=cache, sleep=fake_time.sleep,
                                clock=fake_time.clock, seed=1, **kwargs))
        return made[-1]

    yield make
    for http in made:
        http.close()


@pytest.fixture
def raw_cache(tmp_path):
    cache = RawCache(tmp_path)
    yield cache
    cache.close()


def test_success_after_503_then_502(server, client, sleeps):
    server.on("/x", SimResponse(503), SimResponse(502), OK)
    http = client()
    result = http.get(f"{server.url}/x", parse=parse_json)
    assert result.value == {"ok": True} and not result.from_cache
    assert server.hits("/x") == 3 and http.stats.retries == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential, jittered


def test_retry_after_seconds_is_honoured_with_jitter(server, client, sleeps):
    server.on("/x", SimResponse(429, headers={"Retry-After": "7"}), OK)
    client().get(f"{server.url}/x", parse=parse_json)
    assert len(sleeps) == 1 and 7 <= sleeps[0] <= 8


def test_retry_after_http_date(server, client, sleeps):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.on("/x", SimResponse(503, headers={"Retry-After": when}), OK)
    client().get(f"{server.url}/x", parse=parse_json)
    assert 27 <= sleeps[0] <= 31


def test_garbage_retry_after_falls_back_to_backoff(server, client, sleeps):
    server.on("/x", SimResponse(429, headers={"Retry-After": "soon"}), OK)
    client().get(f"{server.url}/x", parse=parse_json)
    assert 0.25 <= sleeps[0] <= 0.5


def test_retry_after_beyond_cap_is_quota_exhausted_without_sleeping(server, client, sleeps):
    server.on("/x", SimResponse(429, headers={"Retry-After": "86400"}))
    with pytest.raises(QuotaExhaustedError, match="wait 86400 s"):
        client().get(f"{server.url}/x", parse=parse_json)
    assert sleeps == [] and server.hits("/x") == 1


def test_persistent_500_gives_up_after_max_attempts(server, client, sleeps):
    server.on("/x", SimResponse(500))
    with pytest.raises(SourceUnavailableError, match="after 4 attempts: .*HTTP 500"):
        client().get(f"{server.url}/x", parse=parse_json)
    assert server.hits("/x") == 4


def test_total_deadline_stops_retrying(server, client, sleeps):
    server.on("/x", SimResponse(503, headers={"Retry-After": "60"}))
    policy = RetryPolicy(max_attempts=10, deadline=100)
    with pytest.raises(SourceUnavailableError):
        client(retry=policy).get(f"{server.url}/x", parse=parse_json)
    assert server.hits("/x") == 2  # a third attempt would start after the 100 s deadline


@pytest.mark.parametrize(("status", "error"), [(401, AuthError), (403, AuthError), (400, InvalidRequestError),
                                               (404, InvalidRequestError), (501, InvalidRequestError)])
def test_terminal_statuses_are_not_retried(server, client, sleeps, status, error):
    server.on("/x", SimResponse(status))
    with pytest.raises(error, match=f"HTTP {status}"):
        client().get(f"{server.url}/x", parse=parse_json)
    assert server.hits("/x") == 1 and sleeps == []


def test_redirect_is_not_followed_and_key_goes_nowhere_else(server, client, sleeps):
    server.on("/x", SimResponse(301, headers={"Location": "http://127.0.0.2:9/steal"}))
    with pytest.raises(InvalidRequestError, match="redirect .* not followed"):
        client().get(f"{server.url}/x", parse=parse_json, secrets={"api_key": KEY})
    assert [r.path for r in server.requests] == ["/x"]


def test_connection_refused_is_retried_then_reported(client, sleeps):
    with pytest.raises(SourceUnavailableError, match="connection failed"):
        client().get("http://127.0.0.1:9/x", parse=parse_json)
    assert len(sleeps) == 3


def test_truncated_body_is_retried_and_never_parsed(server, client, sleeps, raw_cache):
    body = b'{"ok": true, "padding": "' + b"x" * 1000 + b'"}'
    server.on("/x", SimResponse(200, body, truncate_at=100), SimResponse(200, body))
    result = client(cache=raw_cache).get(f"{server.url}/x", parse=parse_json)
    assert result.value["ok"] is True and server.hits("/x") == 2
    assert len(raw_cache) == 1


def test_html_error_page_with_200_is_retried_not_cached(server, client, sleeps, raw_cache):
    server.on("/x", SimResponse(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceUnavailableError, match="not JSON"):
        client(cache=raw_cache).get(f"{server.url}/x", parse=parse_json)
    assert len(raw_cache) == 0


def test_oversized_body_is_refused(server, client, sleeps):
    server.on("/x", SimResponse(200, b"{" + b" " * 5000 + b"}"))
    with pytest.raises(ResponseTooLargeError, match="1024 byte cap"):
        client(max_body_bytes=1024).get(f"{server.url}/x", parse=parse_json)


def test_slow_attempt_is_cut_by_the_attempt_deadline(server, client, sleeps):
    server.on("/x", SimResponse(200, b"{}", delay_s=1.5), OK)
    policy = RetryPolicy(max_attempts=2, attempt_timeout=60)
    http = client(retry=policy, timeout=__import__("httpx").Timeout(0.5))
    assert http.get(f"{server.url}/x", parse=parse_json).value == {"ok": True}
    assert server.hits("/x") == 2


def test_cache_serves_hits_and_offline_replays_without_the_key(server, client, sleeps, raw_cache):
    server.on("/x", SimResponse(200, b'{"echo": "' + KEY.encode() + b'"}'))
    first = client(cache=raw_cache).get(f"{server.url}/x", params=[("a", "1")], secrets={"api_key": KEY},
                                            parse=parse_json)
    assert first.value == {"echo": "***"}  # the echoed key is redacted before parsing and caching
    again = client(cache=raw_cache).get(f"{server.url}/x", params=[("a", "1")], secrets={"api_key": KEY},
                                            parse=parse_json)
    assert again.from_cache and server.hits("/x") == 1
    offline = client(cache=raw_cache, mode=FetchMode.OFFLINE).get(f"{server.url}/x", params=[("a", "1")],
                                                                   parse=parse_json)
    assert offline.from_cache and offline.fetched_at == first.fetched_at
    assert KEY.encode() not in raw_cache.path.read_bytes()


def test_history_says_how_each_request_was_answered_in_each_mode(server, client, sleeps, raw_cache):
    server.on("/x", OK)
    url = f"{server.url}/x"
    http = client(cache=raw_cache)
    for _ in range(2):
        http.get(url, params=[("a", "1")], parse=parse_json)
    assert [(r.request, r.answer) for r in http.history] == [(f"{url}?a=1", Answer.NETWORK),
                                                             (f"{url}?a=1", Answer.CACHE)]
    assert [r.describe() for r in http.history] == [f"{url}?a=1", f"cache: {url}?a=1"]
    refresh = client(cache=raw_cache, mode=FetchMode.REFRESH)
    refresh.get(url, params=[("a", "1")], parse=parse_json)
    assert [r.answer for r in refresh.history] == [Answer.NETWORK] and server.hits("/x") == 2
    dry = client(cache=raw_cache, mode=FetchMode.DRY_RUN)
    dry.get(url, params=[("a", "1")], parse=parse_json, cache=CacheMode.REFRESH)  # a plan reads what is cached
    with pytest.raises(WouldFetchError, match="would be fetched"):
        dry.get(url, params=[("a", "2")], parse=parse_json)
    assert [r.answer for r in dry.history] == [Answer.CACHE, Answer.WOULD_FETCH] and server.hits("/x") == 2
    assert dry.offline and not http.offline, "nothing leaves a dry run: a source need not insist on its key"


def test_offline_miss_is_a_clear_error(server, client, sleeps, raw_cache):
    with pytest.raises(CacheMissError, match="not in the raw cache; run once without --offline"):
        client(cache=raw_cache, mode=FetchMode.OFFLINE).get(f"{server.url}/x", parse=parse_json)
    assert server.requests == []


def test_refresh_mode_fetches_despite_a_hit(server, client, sleeps, raw_cache):
    server.on("/x", OK)
    client(cache=raw_cache).get(f"{server.url}/x", parse=parse_json)
    client(cache=raw_cache).get(f"{server.url}/x", parse=parse_json, cache=CacheMode.REFRESH)
    assert server.hits("/x") == 2


def test_token_bucket_spaces_requests_to_the_budget():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(RateBudget(5, per=1.0, burst=5), clock=lambda: now[0])
    for _ in range(15):
        if wait := bucket.reserve():
            sleep(wait)
    assert now[0] == pytest.approx(2.0)  # 5 free, then 10 more at 5 per second
    assert all(w == pytest.approx(0.2) for w in waits)


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0", 0.0), ("-5", 0.0), ("soon", None), (None, None),
                                                  ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("nan", None)])
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header) == expected


def test_requests_are_spaced_by_the_budget_on_the_clients_clock(server, fake_time):
    server.on("/x", OK)
    stamps: list[float] = []

    def parse_and_stamp(response):
        stamps.append(fake_time.now)
        return parse_json(response)

    with http_client("test", RateBudget(1, per=5.0, burst=1), sleep=fake_time.sleep, clock=fake_time.clock) as http:
        for _ in range(4):
            http.get(f"{server.url}/x", parse=parse_and_stamp, cache=CacheMode.REFRESH)
    assert [b - a for a, b in itertools.pairwise(stamps)] == pytest.approx([5.0, 5.0, 5.0])


def test_a_request_can_carry_its_own_budget_for_another_host(server, fake_time):
    server.on("/x", OK)
    with http_client("test", RateBudget(1, per=5.0), sleep=fake_time.sleep, clock=fake_time.clock) as http:
        for _ in range(3):
            http.get(f"{server.url}/x", parse=parse_json, budget=RateBudget(100, burst=10))
    assert fake_time.sleeps == []


def test_several_limits_must_all_hold(server, fake_time):
    server.on("/x", OK)
    per_second, per_minute = RateBudget(10, per=1.0, burst=10), RateBudget(12, per=60.0, burst=12)
    with http_client("test", (per_second, per_minute), sleep=fake_time.sleep, clock=fake_time.clock) as http:
        for _ in range(15):
            http.get(f"{server.url}/x", parse=parse_json, cache=CacheMode.REFRESH)
    # 12 fit the minute's burst; the 3 after it wait for the per-minute refill, 5 s apiece
    assert fake_time.now == pytest.approx(15.0)
