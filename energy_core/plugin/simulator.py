"""Loopback HTTP servers that imitate real APIs, so the real client code runs with no network.

A plugin subclasses :class:`Simulator`, answers :class:`SimRequest` with :class:`SimResponse`, and
says in :meth:`Simulator.env` which settings point its source at the server. Every simulator can also
play a slow or throttling service (:class:`Throttle`) and records what it served (:class:`Traffic`).
"""

from __future__ import annotations

import enum
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qsl, urlsplit

from energy_core.errors import ConfigError
from energy_core.plugin.interfaces import Budget, RateBudget

RATE_VARIABLE = "ENERGY_SIM_RATE"
BURST_VARIABLE = "ENERGY_SIM_BURST"
LATENCY_VARIABLE = "ENERGY_SIM_LATENCY"
EVERY_VARIABLE = "ENERGY_SIM_429_EVERY"
POLL_S = 0.05
"""How often the server looks for :meth:`Simulator.close`: every close waits up to this long (the
standard library's 0.5 s made each test that starts a simulator half a second slower)."""
JITTER_S = 0.05
"""Server-side tolerance for a client that spaces requests exactly at the budget: loopback scheduling
can deliver such a request this much early."""


@dataclass(frozen=True)
class SimRequest:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.all(name)
        return values[0] if values else default


@dataclass(frozen=True)
class SimResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Sleep before answering (a slow server)."""
    truncate_at: int | None = None
    """Send only this many body bytes, then close, while promising the full length."""
    drip_s: float = 0.0
    """Send the body one byte at a time with this pause between bytes (a slow drip)."""


@dataclass(frozen=True)
class Throttle:
    """How slow and how strict the simulated service is (the default: neither)."""

    rate: float = 0.0
    """Requests per second the service admits (a token bucket with ``burst``); 0 = unlimited."""
    burst: int = 1
    latency_s: float = 0.0
    """Seconds before every answer; requests wait concurrently, as at a real slow server."""
    throttle_every: int = 0
    """Every Nth data request answers 429, whatever the rate."""
    retry_after: str | None = "1"
    """The ``Retry-After`` value sent with a 429 by simulators whose service sends one; None = none."""

    def __post_init__(self) -> None:
        if not (self.rate >= 0 and self.burst >= 1 and self.latency_s >= 0 and self.throttle_every >= 0):
            raise ValueError(f"invalid {self!r}: rate, latency_s and throttle_every must be >= 0, burst >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Throttle:
        """The throttle ``ENERGY_SIM_RATE``, ``ENERGY_SIM_BURST``, ``ENERGY_SIM_LATENCY`` (seconds) and
        ``ENERGY_SIM_429_EVERY`` describe; unset or empty ones keep their defaults."""
        return cls(
            rate=_env_number(env, RATE_VARIABLE, 0.0, "requests per second, a number >= 0 (0 = unlimited)"),
            burst=int(_env_number(env, BURST_VARIABLE, 1, "a whole number of requests >= 1", whole=True, least=1)),
            latency_s=_env_number(env, LATENCY_VARIABLE, 0.0, "seconds before each answer, a number >= 0"),
            throttle_every=int(_env_number(env, EVERY_VARIABLE, 0, "a whole number >= 0 (0 = never)", whole=True)))

    @property
    def budget(self) -> RateBudget | None:
        """The client budget that keeps within ``rate``; None when the rate is unlimited."""
        return RateBudget(self.rate, per=1.0, burst=self.burst) if self.rate > 0 else None


def _env_number(env: Mapping[str, str], name: str, default: float, expected: str, *, whole: bool = False,
                least: float = 0) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(int(text)) if whole else float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < least:
        raise ConfigError(f"{name}={text!r}: expected {expected}")
    return value


class Traffic:
    """What a simulator served, safe to read while it serves: tests and benchmarks check a client
    against it (never more in flight than it should send, never a burst over the budget)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._admitted: list[float] = []
        self.requests = 0
        """Requests answered."""
        self.throttled = 0
        """429s sent, whatever the cause."""
        self.over_rate = 0
        """429s sent because the request came faster than the throttle's rate."""
        self.in_flight = 0
        """Requests being handled now."""
        self.max_in_flight = 0

    @property
    def admitted_at(self) -> list[float]:
        """Monotonic arrival times of the data requests the throttle admitted, in order."""
        with self._lock:
            return list(self._admitted)

    def max_in(self, seconds: float) -> int:
        """The most admitted requests within any span of ``seconds`` (ends included)."""
        times, best, first = self.admitted_at, 0, 0
        for last, at in enumerate(times):
            while at - times[first] > seconds:
                first += 1
            best = max(best, last - first + 1)
        return best

    @contextmanager
    def serving(self) -> Iterator[None]:
        """One request in flight while the server handles it (the server's side of the record)."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def admitted(self, at: float) -> None:
        with self._lock:
            self._admitted.append(at)

    def answered(self, status: int, *, over_rate: bool) -> None:
        with self._lock:
            self.requests += 1
            self.throttled += status == 429
            self.over_rate += over_rate


class _Verdict(enum.Enum):
    ADMITTED = "admitted"
    NTH = "every Nth request refused"
    OVER_RATE = "over the rate"


class _Gate:
    """Judges data requests by a throttle: every Nth refused, then a token bucket on the monotonic
    clock. A refused request takes no token; an admitted one takes one, even on a little credit
    (``JITTER_S``), so the long-run rate stays the throttle's."""

    def __init__(self, throttle: Throttle, traffic: Traffic) -> None:
        self.throttle, self.traffic = throttle, traffic
        self._lock = threading.Lock()
        self._count = 0
        self._tokens = float(throttle.burst)
        self._stamp: float | None = None

    def judge(self, now: float) -> _Verdict:
        """The verdict on a data request arriving at ``now`` (``time.monotonic()``)."""
        rate, every = self.throttle.rate, self.throttle.throttle_every
        with self._lock:
            self._count += 1
            if every and self._count % every == 0:
                return _Verdict.NTH
            if rate:
                elapsed = 0.0 if self._stamp is None else now - self._stamp
                self._tokens = min(self.throttle.burst, self._tokens + elapsed * rate)
                self._stamp = now
                if self._tokens < max(0.5, 1 - JITTER_S * rate):
                    return _Verdict.OVER_RATE
                self._tokens -= 1
            self.traffic.admitted(now)
            return _Verdict.ADMITTED


class Simulator(ABC):
    """A threaded HTTP server on 127.0.0.1 with a random free port."""

    budget: Budget | None = None
    """The simulated service's own request limit, when it differs from the real one's; clients
    talking to the simulator use it instead of the source's declared budget. A throttle with a rate
    replaces it on the instance."""

    def __init__(self, *, throttle: Throttle | None = None) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[SimRequest] = []
        self.data_id = ""
        """Names the data served when it is not the built-in data (a replayed table's digest), so
        answers drawn from different data never share a raw-cache entry."""
        throttle = throttle or Throttle()
        self.throttle = throttle
        """How slow and strict this service is (by default neither)."""
        self.traffic = Traffic()
        if throttle.budget is not None:
            self.budget = throttle.budget
        self._gate = _Gate(throttle, self.traffic)

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one GET request."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """Environment overrides that point the plugin's source at this server."""

    def throttled(self) -> SimResponse:
        """The service's own answer to a caller over its rate limit; plugins give their service's."""
        headers = {"Retry-After": self.throttle.retry_after} if self.throttle.retry_after is not None else {}
        return SimResponse(429, b"Too Many Requests", {"Content-Type": "text/plain", **headers})

    def metered(self, request: SimRequest) -> bool:
        """Whether the request counts against the throttle (a data request); by default every one."""
        return True

    def _answer(self, request: SimRequest) -> tuple[SimResponse, _Verdict]:
        verdict = self._gate.judge(time.monotonic()) if self.metered(request) else _Verdict.ADMITTED
        return (self.handle(request) if verdict is _Verdict.ADMITTED else self.throttled()), verdict

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            """Headers and body go out as separate writes: with Nagle's algorithm the body waits for the
            client's delayed ACK, some 40 ms per keep-alive request."""

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = SimRequest(parts.path, parse_qsl(parts.query, keep_blank_values=True), dict(self.headers))
                simulator.requests.append(request)
                with simulator.traffic.serving():
                    response, verdict = simulator._answer(request)
                    delay = simulator.throttle.latency_s + response.delay_s
                    if delay:
                        time.sleep(delay)
                    simulator.traffic.answered(response.status, over_rate=verdict is _Verdict.OVER_RATE)
                    self._send(response)

            def _send(self, response: SimResponse) -> None:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                if response.truncate_at is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                body = response.body[: response.truncate_at]
                step = 1 if response.drip_s else len(body) or 1
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        if response.drip_s:
                            self.wfile.flush()
                            time.sleep(response.drip_s)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up or died; nothing to answer

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_S,), name=type(self).__name__,
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """Room for many clients connecting at once (the default, 5, drops connections to a 1 s SYN retry)."""
