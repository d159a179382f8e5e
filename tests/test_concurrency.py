"""Many requests in flight per source: the in-flight limit, the client's map, budgets and quotas across threads."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime

import orjson
import pytest

from energy_core.errors import QuotaExhaustedError, UnexpectedPayloadError
from energy_core.ingest.concurrency import MAX_IN_FLIGHT, InFlightLimit
from energy_core.plugin.interfaces import RateBudget
from energy_core.plugin.simulator import SimRequest, SimResponse, Simulator
from energy_core.testing import http_client


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Stamping(Simulator):
    """Answers every path after ``delay_s``, stamping arrivals; throttles the requests listed in ``throttle``."""

    def __init__(self, delay_s: float = 0.0, throttle: tuple[int, ...] = (), retry_after: str = "0") -> None:
        super().__init__()
        self.delay_s, self.throttle_numbers, self.retry_after = delay_s, throttle, retry_after
        self.arrivals: list[float] = []
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()

    def handle(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self.arrivals.append(time.monotonic())
            number = len(self.arrivals)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.delay_s)
        with self._lock:
            self.in_flight -= 1
        if number in self.throttle_numbers:
            return SimResponse(429, b"{}", {"Retry-After": self.retry_after})
        return SimResponse(200, orjson.dumps({"path": request.path}), {"Content-Type": "application/json"})

    def env(self) -> dict[str, str]:
        return {}

    def most_within(self, seconds: float) -> int:
        """The most arrivals within any span of ``seconds``."""
        stamps = sorted(self.arrivals)
        return max((sum(1 for t in stamps[i:] if t - s < seconds) for i, s in enumerate(stamps)), default=0)


def parse_json(response):
    if not response.body.startswith(b"{"):
        raise UnexpectedPayloadError("not JSON")
    return orjson.loads(response.body)


# -- the in-flight limit ------------------------------------------------------------------------------

def test_limit_starts_at_what_a_second_of_latency_needs_and_grows_by_one_per_answer_until_throttled():
    limit = InFlightLimit(rate=4.0, clock=Clock())
    assert limit.limit == 7  # 4/s x 1 s x 1.5 headroom = 6, plus one
    for _ in range(9):
        limit.answered(5.0)
    assert limit.limit == 16  # slow start: one more per answer
    limit.throttled(None)
    assert limit.limit == 8
    for _ in range(7):
        limit.answered(5.0)
    assert limit.limit == 8  # now one more per window of answers, not per answer
    for _ in range(2):
        limit.answered(5.0)
    assert limit.limit == 9


def test_a_burst_larger_than_a_second_of_requests_starts_the_limit_higher():
    assert InFlightLimit(rate=1.0, initial=12, clock=Clock()).limit == 12
    assert InFlightLimit(rate=None, clock=Clock()).limit == MAX_IN_FLIGHT


def test_limit_never_exceeds_what_the_latency_needs_at_the_budgets_rate():
    limit = InFlightLimit(rate=5.0, clock=Clock())
    for _ in range(50):
        limit.answered(0.4)
    assert limit.limit == 4  # 5/s x 0.4 s x 1.5 headroom = 3, plus one (it started at 9)
    for _ in range(50):
        limit.answered(2.0)
    assert limit.limit == 16
    unlimited = InFlightLimit(rate=None, clock=Clock())
    for _ in range(100):
        unlimited.answered(5.0)
    assert unlimited.limit == MAX_IN_FLIGHT


def test_a_fixed_limit_does_not_adapt():
    limit = InFlightLimit(rate=0.2, fixed=1, clock=Clock())
    for _ in range(10):
        limit.answered(0.1)
    limit.throttled(None)
    assert limit.limit == 1


def test_retry_after_pauses_every_request_to_the_host():
    clock = Clock()
    limit = InFlightLimit(rate=None, clock=clock)
    limit.throttled(30.0)
    entered = threading.Event()

    def take() -> None:
        with limit.slot():
            entered.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not entered.wait(0.2), "a request went out during the pause"
    clock.now = 31.0
    with limit._changed:
        limit._changed.notify_all()
    assert entered.wait(2)
    thread.join()


# -- the client across threads --------------------------------------------------------------------

def test_map_keeps_requests_in_flight_together_and_results_in_order():
    with Stamping(delay_s=0.2) as server:
        http = http_client("test", RateBudget(1000, burst=1000))
        try:
            results = http.map(lambda i: http.get(f"{server.url}/{i}", parse=parse_json).value["path"], range(12))
        finally:
            http.close()
    assert results == [f"/{i}" for i in range(12)]
    assert 1 < server.peak <= http.stats.peak_in_flight
    assert http.stats.requests == 12 == len(http.history)


def test_map_raises_the_earliest_failure_after_the_calls_under_way_end():
    started: list[int] = []

    def call(i: int) -> int:
        started.append(i)
        time.sleep(0.05)
        if i in (3, 5):
            raise ValueError(f"item {i}")
        return i

    http = http_client("test", RateBudget(1000, burst=1000))
    try:
        with pytest.raises(ValueError, match="item 3"):
            http.map(call, range(200))
    finally:
        http.close()
    assert len(started) < 200, "items kept starting after a failure"


def test_the_budget_holds_across_threads_with_no_burst_over_it():
    with Stamping(delay_s=0.05) as server:
        http = http_client("test", RateBudget(20, burst=2))
        try:
            http.map(lambda i: http.get(f"{server.url}/{i}", parse=parse_json), range(40))
        finally:
            http.close()
    assert server.peak > 1
    assert server.most_within(1.0) <= 20 + 2, "more requests in a second than the budget's rate plus its burst"


def test_throttling_halves_the_limit_and_the_request_is_retried():
    with Stamping(delay_s=0.02, throttle=(6, 7)) as server:
        http = http_client("test", RateBudget(1000, burst=1000))
        try:
            results = http.map(lambda i: http.get(f"{server.url}/{i}", parse=parse_json).value, range(20))
        finally:
            http.close()
    assert len(results) == 20 and http.stats.throttled == 2 and http.stats.retries == 2
    assert http.stats.requests == 22


def test_a_spent_quota_stops_the_source_without_sending_and_says_when_to_run_again():
    daily = RateBudget(5, per=86_400.0, burst=5)
    with Stamping() as server:
        http = http_client("test", (RateBudget(100, burst=10), daily))
        try:
            http.get(f"{server.url}/a", parse=parse_json, cost=2)
            http.get(f"{server.url}/b", parse=parse_json, cost=2)
            with pytest.raises(QuotaExhaustedError, match=r"quota of 5 calls per day is spent.*run again after"):
                http.get(f"{server.url}/c", parse=parse_json, cost=2)
            with pytest.raises(QuotaExhaustedError, match="not sent after"):
                http.get(f"{server.url}/d", parse=parse_json, cost=1)
        finally:
            http.close()
    assert len(server.arrivals) == 2 and http.stats.calls == 4


# -- what the user sees -----------------------------------------------------------------------------

def test_progress_shows_the_time_the_budget_needs_until_the_pace_says_longer():
    from energy_core.cli.progress import RunProgress
    from energy_core.ingest.client import HttpStats
    from energy_core.ingest.planning import Estimate
    from energy_core.ingest.report import WindowOutcome, WindowStatus
    from energy_core.plugin.interfaces import Window

    clock = Clock()
    with RunProgress(io.StringIO(), live=False, clock=clock) as progress:  # its ticker stops with the block
        progress.plan({"eia": Estimate(windows=4, calls=95, seconds=18.0, stats=HttpStats())})
        window = Window("eia", "eia.region", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
        assert progress.left("eia") == 18.0
        clock.now = 6.0
        progress.window(WindowOutcome(window, WindowStatus.OK))
        assert progress.left("eia") == 18.0, "one window in 6 s: three more take 18 s, more than the budget's 12"
        clock.now = 8.0
        progress.window(WindowOutcome(window, WindowStatus.OK))
        assert progress.left("eia") == 10.0, "the budget's 10 s left outweigh the pace's 8"
        for _ in range(2):
            progress.window(WindowOutcome(window, WindowStatus.OK))
        assert progress.left("eia") == 0.0
