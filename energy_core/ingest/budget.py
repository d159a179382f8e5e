"""Request budgets enforced per host: a token bucket per rate limit, a spent-or-not check per quota, and
how long a number of calls takes."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from energy_core.plugin.interfaces import Budget, RateBudget

QUOTA_PERIOD_S = 3600.0
"""A limit counted over this long or longer (an hourly or daily quota) is spent, not waited for: waiting
for it to refill would hold a run for hours."""


def is_quota(limit: RateBudget) -> bool:
    return limit.per >= QUOTA_PERIOD_S


class QuotaSpent(Exception):
    """Raised by :meth:`TokenBucket.take` when a quota cannot pay for a request."""

    def __init__(self, limit: RateBudget, refill_s: float) -> None:
        super().__init__(f"the quota of {limit.requests:g} calls per {describe_period(limit.per)} is spent")
        self.limit = limit
        self.refill_s = refill_s
        """Seconds until it could pay again."""


class TokenBucket:
    """One limit's tokens. Callers reserve tokens ahead (the balance may go negative), so concurrent
    callers queue up in order and together never exceed the rate."""

    def __init__(self, budget: RateBudget, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self._tokens = float(budget.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return the seconds the caller must wait before sending."""
        with self._lock:
            self._refill()
            self._tokens -= cost
            return 0.0 if self._tokens >= 0 else -self._tokens / self.budget.rate

    def take(self, cost: float = 1.0) -> None:
        """Take ``cost`` tokens now or raise :class:`QuotaSpent` (quotas are never waited for)."""
        with self._lock:
            self._refill()
            if self._tokens < cost:
                raise QuotaSpent(self.budget, (cost - self._tokens) / self.budget.rate)
            self._tokens -= cost

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.budget.burst, self._tokens + (now - self._stamp) * self.budget.rate)
        self._stamp = now


def limits(budget: Budget) -> tuple[RateBudget, ...]:
    """The limits of a budget that must all hold."""
    return budget if isinstance(budget, tuple) else (budget,)


def sustained_rate(budget: Budget) -> float | None:
    """Calls per second the budget's rate limits allow in the long run (quotas aside); None: unlimited."""
    rates = [limit.rate for limit in limits(budget) if not is_quota(limit)]
    return min(rates) if rates else None


def burst(budget: Budget) -> float:
    """Calls the budget's rate limits let go out at once (quotas aside)."""
    return min((limit.burst for limit in limits(budget) if not is_quota(limit)), default=math.inf)


def fixed_concurrency(budget: Budget) -> int | None:
    """The most requests the budget lets be in flight at once, when it fixes one."""
    fixed = [limit.concurrency for limit in limits(budget) if limit.concurrency is not None]
    return min(fixed) if fixed else None


def budget_seconds(budget: Budget, calls: float) -> float:
    """Seconds ``calls`` back-to-back calls take under the budget's rate limits (their bursts spent first)."""
    return max((max(0.0, calls - limit.burst) / limit.rate for limit in limits(budget) if not is_quota(limit)),
               default=0.0)


def over_quota(budget: Budget, calls: float) -> list[RateBudget]:
    """The quotas ``calls`` would not fit in, even fresh."""
    return [limit for limit in limits(budget) if is_quota(limit) and calls > limit.burst]


def describe_period(seconds: float) -> str:
    named = {3600.0: "hour", 86_400.0: "day", 604_800.0: "week"}
    return named.get(seconds) or str(timedelta(seconds=round(seconds)))
