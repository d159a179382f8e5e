"""Request budgets enforced per host: a token bucket per limit, and how long a number of requests takes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from energy_core.plugin.interfaces import Budget, RateBudget


class TokenBucket:
    def __init__(self, budget: RateBudget, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self._tokens = float(budget.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """Take one token, sleeping until one is available; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.budget.burst, self._tokens + (now - self._stamp) * self.budget.rate)
            self._stamp = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.budget.rate
        if wait:
            sleep(wait)
        return wait


def limits(budget: Budget) -> tuple[RateBudget, ...]:
    """The limits of a budget that must all hold."""
    return budget if isinstance(budget, tuple) else (budget,)


def budget_seconds(budget: Budget, requests: int) -> float:
    """Seconds ``requests`` back-to-back requests take under ``budget`` (its bursts spent first)."""
    return max((max(0, requests - limit.burst) / limit.rate for limit in limits(budget)), default=0.0)
