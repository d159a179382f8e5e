"""When to try a request again, how long to wait, and which error a non-2xx answer is."""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from energy_core.errors import (
    AuthError,
    InvalidRequestError,
    RateLimitedError,
    SourceError,
    TransientSourceError,
)
from energy_core.plugin.interfaces import HttpResponse

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
"""501 and 505 are not here: they say the server will never do it, so retrying cannot help."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_cap: float = 120.0
    """A server asking us to wait longer than this gets a QuotaExhaustedError instead of a sleep."""
    deadline: float = 900.0
    """Total seconds for one logical request, retries included."""
    attempt_timeout: float = 300.0
    """Total seconds for one attempt, the whole body included (a slow drip cannot hold us forever)."""

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter: half fixed, half random, so clients spread out."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    Returns None when absent or unparseable (the caller falls back to backoff); never negative.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)



def default_error(source: str, response: HttpResponse) -> SourceError:
    """The error for a non-2xx answer when the service's own error body says nothing more."""
    status, where = response.status, response.request
    if 300 <= status < 400:
        return InvalidRequestError(f"{source}: {where} answered a redirect (HTTP {status}), which is not followed",
                                   source=source, status=status)
    if status == 429:
        return RateLimitedError(f"{source}: rate limited (HTTP 429) on {where}", source=source, status=status)
    if status in RETRYABLE_STATUS:
        return TransientSourceError(f"{source}: HTTP {status} on {where}", source=source, status=status)
    if status in (401, 403):
        return AuthError(f"{source}: the service refused access (HTTP {status}) to {where}", source=source,
                         status=status)
    return InvalidRequestError(f"{source}: HTTP {status} on {where}", source=source, status=status)
