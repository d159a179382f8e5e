"""The one way a source talks to the network.

An httpx client with a per-host request budget (token bucket), retries with exponential backoff
and jitter that honour ``Retry-After``, a byte cap and a total deadline per attempt, the raw
cache, and redaction of credentials everywhere. It never returns a silent ``None``: either a
parsed value or a typed :class:`~energy_core.errors.EnergyError`.
"""

from __future__ import annotations

import email.utils
import enum
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from energy_core.cache import RawCache, request_key
from energy_core.errors import (
    AuthError,
    CacheMissError,
    EnergyError,
    InvalidRequestError,
    QuotaExhaustedError,
    RateLimitedError,
    ResponseTooLargeError,
    SourceError,
    SourceUnavailableError,
    TransientSourceError,
    WouldFetchError,
)
from energy_core.secrets import install_log_redaction, redact, redact_bytes, register_secret

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
"""501 and 505 are not here: they say the server will never do it, so retrying cannot help."""


@dataclass(frozen=True)
class RateBudget:
    """At most ``requests`` per ``per`` seconds, with bursts of up to ``burst`` requests."""

    requests: float
    per: float = 1.0
    burst: int = 1

    @property
    def rate(self) -> float:
        return self.requests / self.per


Budget = RateBudget | tuple[RateBudget, ...]
"""One limit, or several that must all hold (per minute, per hour and per day, say)."""


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


class CacheMode(enum.Enum):
    USE = "use"
    """Serve a live cache entry if there is one; otherwise fetch and store."""
    REFRESH = "refresh"
    """Always fetch, then store."""
    ONLY = "only"
    """Serve from the cache or fail (``--offline``)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes
    request: str
    """The request, credentials removed: safe to show."""
    retry_after: str | None = None


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    from_cache: bool
    fetched_at: datetime


@dataclass
class HttpStats:
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    bytes_received: int = 0
    waited_s: float = 0.0


CACHE_HIT = "cache: "
"""How :attr:`HttpClient.history` marks a request answered by the raw cache."""


@dataclass
class HttpClient:
    """A source's connection to its service. Create one per source and run."""

    source: str
    budget: Budget
    cache: RawCache | None = None
    cache_namespace: str | None = None
    """Separates cache entries of different services answering the same path (a simulator, say)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    offline: bool = False
    refresh: bool = False
    max_body_bytes: int = 256 * 1024 * 1024
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(60.0, connect=10.0))
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    seed: int | None = None
    transport: httpx.BaseTransport | None = None
    budget_override: Budget | None = None
    """Replaces every budget (a simulator declares its own service's limit this way)."""
    stats: HttpStats = field(default_factory=HttpStats)
    dry_run: bool = False
    """Answer from the cache only and raise :class:`WouldFetchError` instead of sending (``--plan``)."""
    history: list[str] = field(default_factory=list)
    """Every request answered, credentials removed, in order; :data:`CACHE_HIT` marks one the cache served."""

    def __post_init__(self) -> None:
        install_log_redaction()
        self._buckets: dict[tuple[str, RateBudget], TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, transport=self.transport,
                                    headers={"User-Agent": "energy (+https://pypi.org/project/energy-core/)"})
        self._rng = random.Random(self.seed)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        parse: Callable[[HttpResponse], T],
        params: Sequence[tuple[str, str]] = (),
        secrets: Mapping[str, str] | None = None,
        classify: Callable[[HttpResponse], EnergyError | None] | None = None,
        cache: CacheMode = CacheMode.USE,
        budget: Budget | None = None,
    ) -> Fetched[T]:
        """GET ``url`` and return ``parse(response)`` for a 2xx answer.

        :param params: query parameters without credentials; they form the cache key.
        :param secrets: credential parameters (``{"api_key": ...}``): sent, never stored or shown.
        :param parse: turns a 2xx response into a value; raising a transient error retries the request.
        :param classify: turns a non-2xx response into the service's own typed error (or None for
            the default mapping by status).
        :param cache: the cache mode; ``--offline`` and ``--refresh`` override it.
        :param budget: this request's budget when the service has several hosts (default: the client's).
        """
        secrets = dict(secrets or {})
        for value in secrets.values():
            register_secret(value)
        query = urlencode(list(params))
        request = f"{url}?{query}" if query else url
        mode = CacheMode.ONLY if self.offline else CacheMode.REFRESH if self.refresh else cache
        target = urlsplit(url)
        namespace = self.cache_namespace or target.netloc
        key = request_key(namespace, f"{target.path}?{query}")

        if self.cache is not None and mode is not CacheMode.REFRESH:
            hit = self._from_cache(key, parse)
            if hit is not None:
                self.history.append(CACHE_HIT + request)
                return hit
        if self.dry_run:
            self.history.append(f"would fetch: {request}")
            raise WouldFetchError(f"{self.source}: {request} would be fetched")
        if mode is CacheMode.ONLY:
            raise CacheMissError(
                f"{self.source}: {request} is not in the raw cache; run once without --offline to fetch it"
            )
        buckets = self._buckets_for(target.netloc, budget or self.budget)
        value, body, content_type, fetched_at = self._fetch(url, request, [*params, *secrets.items()], parse, classify,
                                                            buckets)
        self.history.append(request)
        if self.cache is not None:
            self.cache.put(key, namespace=namespace, request=request, status=200, content_type=content_type,
                           body=body, fetched_at=fetched_at)
        return Fetched(value, False, fetched_at)

    def _from_cache(self, key: str, parse: Callable[[HttpResponse], T]) -> Fetched[T] | None:
        assert self.cache is not None
        hit = self.cache.get(key)
        if hit is None:
            return None
        try:
            value = parse(HttpResponse(hit.status, hit.content_type, hit.body, hit.request))
        except EnergyError as exc:
            logger.warning("%s: ignoring unusable cache entry for %s: %s", self.source, hit.request, exc)
            return None
        self.stats.cache_hits += 1
        return Fetched(value, True, hit.fetched_at)

    def _buckets_for(self, host: str, budget: Budget) -> list[TokenBucket]:
        """One bucket per host and limit, on this client's clock; a request needs a token from each."""
        budget = self.budget_override or budget
        with self._buckets_lock:
            return [self._buckets.setdefault((host, limit), TokenBucket(limit, clock=self.clock))
                    for limit in (budget if isinstance(budget, tuple) else (budget,))]

    def _fetch(self, url: str, request: str, params: list[tuple[str, str]], parse: Callable[[HttpResponse], T],
               classify: Callable[[HttpResponse], EnergyError | None] | None,
               buckets: list[TokenBucket]) -> tuple[T, bytes, str, datetime]:
        started = self.clock()
        last: SourceError | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            self.stats.waited_s += sum(bucket.acquire(self.sleep) for bucket in buckets)
            self.stats.requests += 1
            logger.debug("%s: GET %s (attempt %d)", self.source, request, attempt)
            try:
                response = self._send(url, request, params)
                if 200 <= response.status < 300:
                    fetched_at = datetime.now(UTC)
                    return parse(response), response.body, response.content_type, fetched_at
                raise self._error_for(response, classify)
            except TransientSourceError as exc:
                last = exc
            wait = self._wait_before_retry(last, attempt)
            if attempt == self.retry.max_attempts or self.clock() - started + wait > self.retry.deadline:
                break
            logger.info("%s; retrying in %.1f s (attempt %d of %d)", last, wait, attempt + 1, self.retry.max_attempts)
            self.stats.retries += 1
            self.stats.waited_s += wait
            self.sleep(wait)
        raise SourceUnavailableError(
            f"gave up after {attempt} attempts: {last}", source=self.source,
            status=last.status if last else None,
        )

    def _wait_before_retry(self, error: SourceError, attempt: int) -> float:
        retry_after = error.retry_after if isinstance(error, TransientSourceError) else None
        if retry_after is None:
            return self.retry.backoff(attempt, self._rng)
        if retry_after > self.retry.retry_after_cap:
            raise QuotaExhaustedError(
                f"{self.source}: the service asks to wait {retry_after:.0f} s (more than the "
                f"{self.retry.retry_after_cap:.0f} s cap); run again later", source=self.source, status=error.status,
            )
        return retry_after + self._rng.uniform(0, min(1.0, self.retry.backoff_base))

    def _send(self, url: str, request: str, params: list[tuple[str, str]]) -> HttpResponse:
        deadline = time.monotonic() + self.retry.attempt_timeout
        try:
            with self._client.stream("GET", url, params=params) as r:
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise self._too_large(request, int(declared))
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise self._too_large(request, size)
                    if time.monotonic() > deadline:
                        raise TransientSourceError(
                            f"{self.source}: {request} took longer than {self.retry.attempt_timeout:.0f} s",
                            source=self.source)
                    chunks.append(chunk)
                self.stats.bytes_received += size
                return HttpResponse(r.status_code, r.headers.get("content-type", ""), redact_bytes(b"".join(chunks)),
                                    request, r.headers.get("retry-after"))
        except httpx.TimeoutException as exc:
            raise TransientSourceError(f"{self.source}: timed out on {request} ({type(exc).__name__})",
                                       source=self.source) from None
        except httpx.TransportError as exc:
            raise TransientSourceError(
                f"{self.source}: connection failed on {request}: {type(exc).__name__}: {redact(str(exc))}",
                source=self.source) from None

    def _too_large(self, request: str, size: int) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"{self.source}: response to {request} exceeds the {self.max_body_bytes} byte cap ({size} bytes)",
            source=self.source)

    def _error_for(self, response: HttpResponse,
                   classify: Callable[[HttpResponse], EnergyError | None] | None) -> EnergyError:
        error = classify(response) if classify else None
        if error is None:
            error = default_error(self.source, response)
        if isinstance(error, TransientSourceError) and response.retry_after is not None:
            error.retry_after = parse_retry_after(response.retry_after)
        return error


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
