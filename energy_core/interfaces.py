"""The three component kinds a plugin can provide: sources, normalizers and sinks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import polars as pl

from energy_core.http import CacheMode

if TYPE_CHECKING:
    from energy_core.http import Budget, HttpClient
    from energy_core.simulator import Simulator


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


@dataclass(frozen=True)
class SourceContext:
    """What the core hands a source: its HTTP client and the environment to read settings from."""

    http: HttpClient
    env: Mapping[str, str] = field(default_factory=dict)


class Source(ABC):
    """Plans and fetches one API's data through :class:`energy_core.http.HttpClient`."""

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

    def cache_mode(self, window: Window) -> CacheMode:
        """Serve ``window`` from the raw cache only once the service no longer revises it."""
        settled = window.end <= datetime.now(UTC) - self.revision_lookback
        return CacheMode.USE if settled else CacheMode.REFRESH

    @classmethod
    def simulator(cls, env: Mapping[str, str]) -> Simulator | None:
        """A loopback server that imitates the API, used by ``energy run --simulate``.

        ``env`` is the run's environment (``RunConfig.env``, else the process's), where a simulator
        finds its own settings, such as a table to replay.
        """
        return None


class Normalizer(ABC):
    """Turns a source's raw batches into canonical observations (see :mod:`energy_core.schema`)."""

    name: ClassVar[str]

    @abstractmethod
    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        """Return canonical observations: UTC interval starts, canonical series names and units."""


@dataclass
class SinkStats:
    rows_written: int = 0
    files_written: int = 0


class Sink(ABC):
    """Persists canonical observations. Used as a context manager: ``close`` flushes."""

    name: ClassVar[str]

    def __init__(self, home: Path) -> None:
        self.home = home

    @abstractmethod
    def write(self, observations: pl.DataFrame) -> None:
        """Accept validated canonical observations (a sink may buffer them)."""

    @abstractmethod
    def close(self) -> SinkStats:
        """Flush everything accepted so far and release resources."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
