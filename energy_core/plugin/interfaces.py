"""The plugin contract's types: sources, normalizers and sinks, and the values they exchange with the core."""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, Self, TypeVar

from energy_core.errors import EnergyError

if TYPE_CHECKING:
    import polars as pl

    from energy_core.home import Home
    from energy_core.plugin.simulator import Simulator

logger = logging.getLogger(__name__)

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class RateBudget:
    """At most ``requests`` calls per ``per`` seconds, with bursts of up to ``burst`` calls.

    A request costs one call unless its source says otherwise (``Http.get(cost=...)``). A limit counted
    over hours or days (an hourly or daily quota) is spent, not waited for: once it is used up the
    source stops and its windows stay pending for the next run.
    """

    requests: float
    per: float = 1.0
    burst: float = 1
    concurrency: int | None = None
    """At most this many requests in flight at once to the host (1: strictly one after another, as
    CAISO OASIS asks); None: as many as keep the budget full, adapted to the latency and to throttling."""

    @property
    def rate(self) -> float:
        return self.requests / self.per


Budget = RateBudget | tuple[RateBudget, ...]
"""One limit, or several that must all hold (per minute, per hour and per day, say)."""


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


class Http(Protocol):
    """What a source may ask of the HTTP client the core hands it (see ``energy_core.ingest.client``)."""

    @property
    def offline(self) -> bool:
        """No request leaves the client (``--offline``, or a plan): answers come from the raw cache
        only, so a source need not insist on credentials."""
        ...

    def get(self, url: str, *, parse: Callable[[HttpResponse], T], params: Sequence[tuple[str, str]] = (),
            secrets: Mapping[str, str] | None = None,
            classify: Callable[[HttpResponse], EnergyError | None] | None = None,
            cache: CacheMode = CacheMode.USE, budget: Budget | None = None, cost: float = 1.0) -> Fetched[T]:
        """GET ``url`` within the source's request budget and return ``parse(response)``; ``cost`` is
        what the service counts the request as (in calls of its budget)."""
        ...

    def map(self, fn: Callable[[Item], T], items: Iterable[Item]) -> list[T]:
        """``[fn(item) for item in items]``, run concurrently as far as the budget allows: for the pages
        of a window once the first one tells how many there are. Results keep the items' order; the
        first item's error to fail is raised once no call is still running."""
        ...


@dataclass(frozen=True)
class FetchRequest:
    """What the user asked for: interval starts in ``[start, end)``, UTC."""

    start: datetime
    end: datetime
    regions: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Window:
    """One unit of fetching: it is fetched whole, or it fails whole and nothing of it is stored."""

    source: str
    dataset: str
    start: datetime
    end: datetime
    regions: tuple[str, ...] = ()

    def describe(self) -> str:
        where = ",".join(self.regions) if self.regions else "all regions"
        return f"{self.dataset} {self.start:%Y-%m-%dT%H}..{self.end:%Y-%m-%dT%H} ({where})"


@dataclass(frozen=True)
class RawBatch:
    """Validated rows of one window, still in the source's own vocabulary."""

    window: Window
    rows: pl.DataFrame
    retrieved_at: datetime
    warnings: tuple[str, ...] = ()


class Secrets(Protocol):
    """Where a run keeps the credentials it learns, to redact them (see ``energy_core.ingest.redaction``)."""

    def add(self, value: str) -> None:
        """Learn a secret: from now on it is removed from logs, errors, reports and cached bodies."""
        ...


@dataclass(frozen=True)
class SourceContext:
    """What the core hands a source: its HTTP client and the environment to read settings from."""

    http: Http
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Secrets | None = None
    """The run's secrets; a source adds to it through :meth:`secret`."""

    def secret(self, name: str) -> str:
        """The credential in the environment variable ``name`` (empty when unset), registered with the
        run so that it never reaches a log, an error, a report or the raw cache."""
        value = self.env.get(name, "").strip()
        if value and self.secrets is not None:
            self.secrets.add(value)
        return value


class Source(ABC):
    """Plans and fetches one API's data through :class:`energy_core.ingest.client.HttpClient`."""

    name: ClassVar[str]
    normalizer: ClassVar[str]
    """Name of the normalizer that turns this source's batches into canonical observations."""
    datasets: ClassVar[Mapping[str, str]]
    """Dataset name -> one-line description."""
    budget: ClassVar[Budget]
    """The request budget the service asks clients to respect (one limit or several that must all
    hold); the core enforces it per host."""
    revision_lookback: ClassVar[timedelta] = timedelta(0)
    """How far back the service still revises data: windows ending within it are fetched again even
    when the store holds them."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context
        self.http = context.http

    @abstractmethod
    def plan(self, request: FetchRequest) -> list[Window]:
        """Split a request into windows that respect the API's range and page limits."""

    @abstractmethod
    def fetch(self, window: Window) -> Iterator[RawBatch]:
        """Fetch one window and yield its validated rows; raise an ``EnergyError`` on failure."""

    def cost(self, window: Window) -> float:
        """About how many calls of the budget fetching ``window`` takes (plans, quotas and ETAs use it);
        one request by default."""
        return 1.0

    def cache_mode(self, window: Window) -> CacheMode:
        """Serve ``window`` from the raw cache only once the service no longer revises it."""
        settled = window.end <= datetime.now(UTC) - self.revision_lookback
        return CacheMode.USE if settled else CacheMode.REFRESH

    @classmethod
    def known_regions(cls, env: Mapping[str, str]) -> Collection[str] | None:
        """Every region the service has data for, the names ``--region`` may use (compared without
        case); ``None`` (the default) when the source cannot tell, so that it accepts any.

        The runner refuses a region that no source of the run knows, before any request, and hands
        each source only the regions it knows. ``env`` is the run's environment, where a source finds
        the settings that extend its list (a table of weather points, say).
        """
        return None

    @classmethod
    def simulator(cls, env: Mapping[str, str]) -> Simulator | None:
        """A loopback server that imitates the API, used by ``energy run --simulate``.

        ``env`` is the run's environment (``RunConfig.env``, else the process's), where a simulator
        finds its own settings, such as a table to replay.
        """
        return None


class Normalizer(ABC):
    """Turns a source's raw batches into canonical observations (see :mod:`energy_core.storage.schema`)."""

    name: ClassVar[str]

    @abstractmethod
    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        """Return canonical observations: UTC interval starts, canonical series names and units."""


@dataclass
class SinkStats:
    rows_written: int = 0
    files_written: int = 0


class Sink(ABC):
    """Persists canonical observations, and reads them back when it can.

    Used as a context manager: entering calls :meth:`open` (which takes a lock or a connection;
    the constructor takes nothing), leaving calls :meth:`close` (which flushes). The runner skips a
    window as stored only when every sink of the run can read back (:meth:`scan` returns a frame)
    and holds each of its hours, and reports gaps from the sinks that can read back.
    """

    name: ClassVar[str]

    def __init__(self, home: Home) -> None:
        self.home = home

    def open(self) -> None:  # noqa: B027 (optional: a sink that needs nothing to write keeps this)
        """Take what writing needs (a lock, a connection). Called on entering the sink."""

    @abstractmethod
    def write(self, observations: pl.DataFrame) -> None:
        """Accept validated canonical observations (a sink may buffer them); only while open."""

    def expect(self, dataset: str, coming: Sequence[tuple[datetime, datetime | None]]) -> None:  # noqa: B027
        """Where the run's rows of ``dataset`` may still come: the ``[start, end)`` spans of its windows that
        have not ended (an end of None: from that start on), so that a sink that buffers may commit the
        rest and hold these. The runner calls it between writes, as each window ends; a sink that does
        not buffer ignores it (the default)."""

    @abstractmethod
    def close(self) -> SinkStats:
        """Flush everything accepted so far and release what :meth:`open` took; a second call only
        returns the stats."""

    def scan(self, dataset: str | None = None) -> pl.LazyFrame | None:
        """What the sink holds (of one dataset), lazily, in the canonical schema: an empty frame when
        it holds nothing, ``None`` when it cannot read back (a write-only sink, the default).

        Called whether the sink is open or not (``energy run --plan`` reads without opening it).
        """
        return None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
            return
        try:  # keep what was accepted; the error already on its way is the one the caller sees
            self.close()
        except EnergyError as error:
            logger.error("sink %r could not flush after an earlier error: %s", self.name, error)
