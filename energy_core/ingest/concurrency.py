"""How many requests a source keeps in flight to one host.

Enough to keep the budget full: a host answering in ``latency`` seconds under a budget of ``rate`` calls
per second needs about ``rate x latency`` requests under way at once. The limit adapts like TCP's
window: it starts at what a latency of one second would need (or the budget's burst, if more), grows by
one per answer until the service first throttles (slow start), then by one per window of answers; it
halves on a 429 or 503 and pauses every request to the host for a ``Retry-After``. It never grows past
what the observed latency needs, so a fast host is not flooded with requests that would only wait for
tokens.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_IN_FLIGHT = 32
"""Per host, whatever the budget and latency: a bound on threads and open connections."""
_HEADROOM = 1.5
"""In-flight requests also wait for tokens; this much more than rate x latency keeps the budget full."""
_SMOOTHING = 0.2
_ASSUMED_LATENCY_S = 1.0
"""Before the first answer: web APIs answer a page in about a second (EIA often takes 1 to 3)."""


class InFlightLimit:
    """The in-flight limit of one host. ``fixed`` pins it (a service that takes one request at a time).

    :param rate: the budget's sustained calls per second (None: unlimited).
    :param initial: where the limit starts: the requests the budget lets go out at once.
    """

    def __init__(self, rate: float | None, *, initial: float = 1, fixed: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.fixed = fixed
        self._clock = clock
        self._limit = float(fixed or min(MAX_IN_FLIGHT, max(1, math.floor(initial), self._ceiling(_ASSUMED_LATENCY_S))))
        self._slow_start = fixed is None
        self._latency: float | None = None
        self._in_flight = 0
        self._paused_until = 0.0
        self._changed = threading.Condition()
        self.peak = 0
        """The most requests that were in flight at once."""
        self.throttles = 0

    @property
    def limit(self) -> int:
        return max(1, math.floor(self._limit))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the host's in-flight places while a request is under way."""
        with self._changed:
            while True:
                pause = self._paused_until - self._clock()
                if pause <= 0 and self._in_flight < self.limit:
                    break
                self._changed.wait(timeout=pause if pause > 0 else None)
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def answered(self, latency: float) -> None:
        """A request was answered (not throttled) after ``latency`` seconds."""
        with self._changed:
            self._latency = latency if self._latency is None else (
                _SMOOTHING * latency + (1 - _SMOOTHING) * self._latency)
            if self.fixed is None:
                step = 1.0 if self._slow_start else 1.0 / self._limit
                self._limit = min(self._ceiling(self._latency), self._limit + step)
            self._changed.notify_all()

    def throttled(self, pause_s: float | None) -> None:
        """The service throttled a request (429 or 503); ``pause_s`` is its ``Retry-After``."""
        with self._changed:
            self.throttles += 1
            self._slow_start = False
            if self.fixed is None:
                self._limit = max(1.0, self._limit / 2)
            if pause_s:
                self._paused_until = max(self._paused_until, self._clock() + pause_s)

    def _ceiling(self, latency: float) -> float:
        """What keeps the budget full when answers take ``latency`` seconds."""
        if self.rate is None:
            return float(MAX_IN_FLIGHT)
        return float(min(MAX_IN_FLIGHT, max(1, math.ceil(self.rate * latency * _HEADROOM - 1e-9) + 1)))
