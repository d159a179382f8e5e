"""The one way a source talks to the network.

An httpx client with a per-host request budget (token bucket), retries with exponential backoff
and jitter that honour ``Retry-After``, a byte cap and a total deadline per attempt, the raw
cache, and redaction of credentials everywhere. It never returns a silent ``None``: either a
parsed value or a typed :class:`~energy_core.errors.EnergyError`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from energy_core.errors import (
    CacheMissError,
    EnergyError,
    QuotaExhaustedError,
    ResponseTooLargeError,
    SourceError,
    SourceUnavailableError,
    TransientSourceError,
    WouldFetchError,
)
from energy_core.ingest.budget import TokenBucket, limits
from energy_core.ingest.cache import RawCache, request_key
from energy_core.ingest.redaction import install_log_redaction, redact, redact_bytes, register_secret
from energy_core.ingest.retry import RetryPolicy, default_error, parse_retry_after
from energy_core.plugin.interfaces import Budget, CacheMode, Fetched, HttpResponse, RateBudget

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
                    for limit in limits(budget)]

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
