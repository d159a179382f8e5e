"""The one way a source talks to the network.

An httpx client (over kept-alive ``http.client`` connections: :mod:`~energy_core.ingest.transport`)
with a per-host request budget (token buckets and quotas), an adaptive number of requests in flight per
host (:mod:`~energy_core.ingest.concurrency`), retries with exponential backoff and jitter that honour
``Retry-After``, a byte cap and a total deadline per attempt, the raw cache, and redaction of
credentials everywhere. It never returns a silent ``None``: either a parsed value or a typed
:class:`~energy_core.errors.EnergyError`. One client serves all of a source's threads.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from energy_core.errors import (
    AuthError,
    CacheMissError,
    EnergyError,
    QuotaExhaustedError,
    ResponseTooLargeError,
    SourceError,
    SourceUnavailableError,
    TransientSourceError,
    WouldFetchError,
)
from energy_core.ingest.budget import (
    QuotaSpent,
    TokenBucket,
    burst,
    fixed_concurrency,
    is_quota,
    limits,
    sustained_rate,
)
from energy_core.ingest.cache import RawCache, request_key
from energy_core.ingest.concurrency import MAX_IN_FLIGHT, InFlightLimit
from energy_core.ingest.redaction import SecretScope, redact, redact_bytes
from energy_core.ingest.retry import RetryPolicy, default_error, parse_retry_after
from energy_core.ingest.transport import PooledTransport, proxy_configured
from energy_core.plugin.interfaces import Budget, CacheMode, Fetched, HttpResponse, RateBudget

logger = logging.getLogger(__name__)

T = TypeVar("T")
Item = TypeVar("Item")

THROTTLING_STATUS = frozenset({429, 503})
"""Answers that say the service is overloaded: fewer requests go in flight after one."""


class FetchMode(enum.StrEnum):
    """How a run's client treats the network and the raw cache; within ``NORMAL`` each request's
    :class:`CacheMode` (the source's hint) decides."""

    NORMAL = "normal"
    """Follow each request's cache mode."""
    REFRESH = "refresh"
    """Always fetch, then store (``--full-refresh``)."""
    OFFLINE = "offline"
    """Serve from the raw cache or fail with :class:`CacheMissError` (``--offline``)."""
    DRY_RUN = "dry-run"
    """Serve from the raw cache; raise :class:`WouldFetchError` instead of sending (``--plan``)."""


@dataclass(frozen=True)
class HttpSettings:
    """How a client talks to its service, fixed for a source's run."""

    budget: Budget
    """The source's declared request budget."""
    budget_override: Budget | None = None
    """Replaces every budget, per-request ones too (a paid plan's quota, a simulator's own limit)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_body_bytes: int = 256 * 1024 * 1024
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(60.0, connect=10.0))
    cache_namespace: str | None = None
    """Separates cache entries of different services answering the same path (a simulator, say)."""
    seed: int | None = None
    """Seeds the retry jitter (tests)."""

    @property
    def effective_budget(self) -> Budget:
        return self.budget_override or self.budget


@dataclass
class HttpStats:
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    throttled: int = 0
    """Answers that were 429 or 503."""
    calls: float = 0.0
    """What the service counted the requests sent as (their cost in its budget)."""
    bytes_received: int = 0
    waited_s: float = 0.0
    """Summed over threads: time requests spent waiting for the budget and before retries."""
    peak_in_flight: int = 0


class Answer(enum.StrEnum):
    """How a request was answered."""

    NETWORK = "network"
    CACHE = "cache"
    WOULD_FETCH = "would fetch"
    """Not answered: a dry run stopped at it."""


@dataclass(frozen=True)
class RequestRecord:
    """One request a client handled, credentials removed, and how it was answered."""

    request: str
    answer: Answer

    def describe(self) -> str:
        """The request as reports and the catalog show it: ``cache: <request>`` for a cache hit."""
        return self.request if self.answer is Answer.NETWORK else f"{self.answer}: {self.request}"


_recording: contextvars.ContextVar[list[RequestRecord] | None] = contextvars.ContextVar("recording", default=None)


class HttpClient:
    """A source's connection to its service. Create one per source and run.

    :param settings: budget, retries, byte cap and timeouts.
    :param mode: how the run uses the network and the raw cache.
    :param cache: the raw cache (None: no caching).
    :param secrets: where the credentials a request carries are registered for redaction (the run's
        scope; by default one of the client's own, active while a request is under way).
    :param transport, sleep, clock: the network and time, replaceable in tests.
    """

    def __init__(self, source: str, settings: HttpSettings, *, mode: FetchMode = FetchMode.NORMAL,
                 cache: RawCache | None = None, secrets: SecretScope | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.settings = settings
        self.mode = mode
        self.cache = cache
        self.secrets = secrets if secrets is not None else SecretScope()
        self.sleep = sleep
        self.clock = clock
        self.stats = HttpStats()
        self.history: list[RequestRecord] = []
        """Every request handled, in the order they ended."""
        self._buckets: dict[tuple[str, RateBudget], TokenBucket] = {}
        self._in_flight: dict[str, InFlightLimit] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._refused: SourceError | None = None
        """A refused key or a spent quota: every later request would fail the same way, so none is sent."""
        if transport is None and not proxy_configured():
            transport = PooledTransport()
        self._client = httpx.Client(timeout=settings.timeout, follow_redirects=False, transport=transport,
                                    headers={"User-Agent": "energy (+https://pypi.org/project/energy-core/)"})
        self._rng = random.Random(settings.seed)

    @property
    def offline(self) -> bool:
        """No request leaves this client: it serves answers from the raw cache only (``--offline``,
        or a dry run), so a source need not insist on credentials."""
        return self.mode in (FetchMode.OFFLINE, FetchMode.DRY_RUN)

    @property
    def _retry(self) -> RetryPolicy:
        return self.settings.retry

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
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
        cost: float = 1.0,
    ) -> Fetched[T]:
        """GET ``url`` and return ``parse(response)`` for a 2xx answer.

        :param params: query parameters without credentials; they form the cache key.
        :param secrets: credential parameters (``{"api_key": ...}``): sent, never stored or shown.
        :param parse: turns a 2xx response into a value; raising a transient error retries the request.
        :param classify: turns a non-2xx response into the service's own typed error (or None for
            the default mapping by status).
        :param cache: the source's cache mode; the client's :class:`FetchMode` overrides it.
        :param budget: this request's budget when the service has several hosts (default: the client's).
        :param cost: what the service counts this request as, in calls of its budget.
        """
        secrets = dict(secrets or {})
        for value in secrets.values():
            self.secrets.add(value)
        with self.secrets:
            return self._get(url, parse, params, secrets, classify, cache, budget, cost)

    def map(self, fn: Callable[[Item], T], items: Iterable[Item]) -> list[T]:
        """``[fn(item) for item in items]`` on the client's threads, as many at once as the hosts'
        in-flight limits let through; in order, one after another, when nothing goes to the network.
        Results keep the items' order. After a failure no further item starts, and the earliest
        item's error is raised once every started call has ended."""
        items = list(items)
        if self.offline or len(items) < 2:
            return [fn(item) for item in items]
        pool = self._threads()
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()
        wait(futures)
        errors = [f.exception() for f in futures if not f.cancelled()]
        first_error = next((error for error in errors if error is not None), None)
        if first_error is not None:
            raise first_error
        return [future.result() for future in futures]

    @contextmanager
    def recording(self) -> Iterator[list[RequestRecord]]:
        """Collect the requests made in this context (and in :meth:`map` calls it starts), in the order
        they ended: what one window asked for while other windows are under way."""
        made: list[RequestRecord] = []
        token = _recording.set(made)
        try:
            yield made
        finally:
            _recording.reset(token)

    def _record(self, request: str, answer: Answer) -> None:
        record = RequestRecord(request, answer)
        self.history.append(record)
        made = _recording.get()
        if made is not None:
            made.append(record)

    def _threads(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix=f"energy-{self.source}")
            return self._pool

    def _get(self, url: str, parse: Callable[[HttpResponse], T], params: Sequence[tuple[str, str]],
             secrets: dict[str, str], classify: Callable[[HttpResponse], EnergyError | None] | None,
             cache: CacheMode, budget: Budget | None, cost: float) -> Fetched[T]:
        query = urlencode(list(params))
        request = f"{url}?{query}" if query else url
        target = urlsplit(url)
        namespace = self.settings.cache_namespace or target.netloc
        key = request_key(namespace, f"{target.path}?{query}")

        if self.cache is not None and self._reads_cache(cache):
            hit = self._from_cache(key, parse)
            if hit is not None:
                self._record(request, Answer.CACHE)
                return hit
        if self.mode is FetchMode.DRY_RUN:
            self._record(request, Answer.WOULD_FETCH)
            raise WouldFetchError(f"{self.source}: {request} would be fetched")
        if self.mode is FetchMode.OFFLINE or cache is CacheMode.ONLY:
            raise CacheMissError(
                f"{self.source}: {request} is not in the raw cache; run once without --offline to fetch it"
            )
        host = self._host(target.netloc, self.settings.budget_override or budget or self.settings.budget)
        sent_query = "&".join(filter(None, (query, urlencode(list(secrets.items())))))  # httpx takes it as it is
        value, body, content_type, fetched_at = self._fetch(f"{url}?{sent_query}" if sent_query else url, request,
                                                            parse, classify, host, cost)
        self._record(request, Answer.NETWORK)
        if self.cache is not None:
            self.cache.put(key, namespace=namespace, request=request, status=200, content_type=content_type,
                           body=body, fetched_at=fetched_at)
        return Fetched(value, False, fetched_at)

    def _reads_cache(self, cache: CacheMode) -> bool:
        """Whether this request may be answered by the raw cache: always offline and in a dry run,
        never on a refresh, else as the source asks."""
        if self.mode in (FetchMode.OFFLINE, FetchMode.DRY_RUN):
            return True
        return self.mode is FetchMode.NORMAL and cache is not CacheMode.REFRESH

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
        with self._lock:
            self.stats.cache_hits += 1
        return Fetched(value, True, hit.fetched_at)

    def _host(self, host: str, budget: Budget) -> _Host:
        """The host's buckets (one per limit, on this client's clock) and its in-flight limit; a request
        needs a place in flight and a token from each bucket."""
        with self._lock:
            buckets = [self._buckets.setdefault((host, limit), TokenBucket(limit, clock=self.clock))
                       for limit in limits(budget)]
            if host not in self._in_flight:
                self._in_flight[host] = InFlightLimit(sustained_rate(budget), initial=burst(budget),
                                                      fixed=fixed_concurrency(budget), clock=self.clock)
            return _Host(host, buckets, self._in_flight[host])

    def _fetch(self, url: str, request: str, parse: Callable[[HttpResponse], T],
               classify: Callable[[HttpResponse], EnergyError | None] | None,
               host: _Host, cost: float) -> tuple[T, bytes, str, datetime]:
        try:
            return self._attempts(url, request, parse, classify, host, cost)
        except (AuthError, QuotaExhaustedError) as exc:
            self._refused = self._refused or exc
            raise

    def _attempts(self, url: str, request: str, parse: Callable[[HttpResponse], T],
                  classify: Callable[[HttpResponse], EnergyError | None] | None,
                  host: _Host, cost: float) -> tuple[T, bytes, str, datetime]:
        started = self.clock()
        last: SourceError | None = None
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                with host.in_flight.slot():
                    if self._refused is not None:
                        raise type(self._refused)(f"{request} not sent after: {self._refused}", source=self.source,
                                                  status=self._refused.status)
                    self._pay(host, cost)
                    logger.debug("%s: GET %s (attempt %d)", self.source, request, attempt)
                    sent = self.clock()
                    response = self._send(url, request)
                if 200 <= response.status < 300:
                    host.in_flight.answered(self.clock() - sent)
                    fetched_at = datetime.now(UTC)
                    return parse(response), response.body, response.content_type, fetched_at
                raise self._error_for(response, classify)
            except TransientSourceError as exc:
                last = exc
                if exc.status in THROTTLING_STATUS:
                    # a wait beyond the cap stops the source (below): pausing the host for it would hold
                    # the windows in flight, and the store's lock, for that long
                    within_cap = exc.retry_after is not None and exc.retry_after <= self._retry.retry_after_cap
                    host.in_flight.throttled(exc.retry_after if within_cap else None)
                    with self._lock:
                        self.stats.throttled += 1
            pause = self._wait_before_retry(last, attempt)
            if attempt == self._retry.max_attempts or self.clock() - started + pause > self._retry.deadline:
                break
            logger.info("%s; retrying in %.1f s (attempt %d of %d)", last, pause, attempt + 1, self._retry.max_attempts)
            with self._lock:
                self.stats.retries += 1
                self.stats.waited_s += pause
            self.sleep(pause)
        raise SourceUnavailableError(
            f"gave up after {attempt} attempts: {last}", source=self.source,
            status=last.status if last else None,
        )

    def _pay(self, host: _Host, cost: float) -> None:
        """Spend ``cost`` from the host's quotas (or stop the source) and wait for its rate limits' tokens."""
        try:
            for bucket in host.buckets:
                if is_quota(bucket.budget):
                    bucket.take(cost)
        except QuotaSpent as spent:
            again = datetime.now(UTC) + timedelta(seconds=spent.refill_s)
            raise QuotaExhaustedError(
                f"{self.source}: {spent} ({host.name}); the windows left stay pending: run again after "
                f"{again:%Y-%m-%d %H:%M} UTC", source=self.source) from None
        waited = max((bucket.reserve(cost) for bucket in host.buckets if not is_quota(bucket.budget)), default=0.0)
        if waited:
            self.sleep(waited)
        with self._lock:
            self.stats.requests += 1
            self.stats.calls += cost
            self.stats.waited_s += waited
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, host.in_flight.peak)

    def _wait_before_retry(self, error: SourceError, attempt: int) -> float:
        retry_after = error.retry_after if isinstance(error, TransientSourceError) else None
        if retry_after is None:
            return self._retry.backoff(attempt, self._rng)
        if retry_after > self._retry.retry_after_cap:
            raise QuotaExhaustedError(
                f"{self.source}: the service asks to wait {retry_after:.0f} s (more than the "
                f"{self._retry.retry_after_cap:.0f} s cap); run again later", source=self.source,
                status=error.status,
            )
        return retry_after + self._rng.uniform(0, min(1.0, self._retry.backoff_base))

    def _send(self, url: str, request: str) -> HttpResponse:
        """GET ``url`` (its query encoded, credentials included) and read the answer; ``request`` names it."""
        deadline = time.monotonic() + self._retry.attempt_timeout
        try:
            with self._client.stream("GET", url) as r:
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.settings.max_body_bytes:
                    raise self._too_large(request, int(declared))
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.settings.max_body_bytes:
                        raise self._too_large(request, size)
                    if time.monotonic() > deadline:
                        raise TransientSourceError(
                            f"{self.source}: {request} took longer than {self._retry.attempt_timeout:.0f} s",
                            source=self.source)
                    chunks.append(chunk)
                with self._lock:
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
            f"{self.source}: response to {request} exceeds the {self.settings.max_body_bytes} byte cap "
            f"({size} bytes)", source=self.source)

    def _error_for(self, response: HttpResponse,
                   classify: Callable[[HttpResponse], EnergyError | None] | None) -> EnergyError:
        error = classify(response) if classify else None
        if error is None:
            error = default_error(self.source, response)
        if isinstance(error, TransientSourceError) and response.retry_after is not None:
            error.retry_after = parse_retry_after(response.retry_after)
        return error


@dataclass(frozen=True)
class _Host:
    name: str
    buckets: list[TokenBucket]
    in_flight: InFlightLimit
