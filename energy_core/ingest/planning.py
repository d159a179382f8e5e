"""What a run needs to fetch: windows earlier runs left pending come first, windows the sinks already
hold are skipped (incremental runs), and a dry run (``energy run --plan``) walks each window
through the raw cache without touching the network.

A window counts as stored when every sink of the run can read back and holds every hour of it,
for each region it asks for (any region when it names none). Recent windows are fetched again
whatever the sinks hold, because the sources revise recent hours: how recent is the source's
``revision_lookback`` unless the run gives its own look-back.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from energy_core.errors import EnergyError
from energy_core.ingest.budget import budget_seconds, describe_period, over_quota
from energy_core.ingest.catalog import Catalog
from energy_core.ingest.client import Answer, HttpClient, HttpStats
from energy_core.ingest.config import RunConfig
from energy_core.plugin.interfaces import Sink, Source, Window

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


class StoredHours:
    """The hours each sink holds per dataset within a span, read once per dataset; a window's hours are
    then counted by binary search (a polars filter a window took 0.36 s to plan ten years of 8 BAs)."""

    def __init__(self, sinks: Sequence[Sink], start: datetime, end: datetime) -> None:
        self._sinks, self._start, self._end = sinks, start, end
        self._read: dict[tuple[int, str], _Hours | None] = {}

    def _hours(self, sink: int, dataset: str) -> _Hours | None:
        """The sink's hours of ``dataset`` in the span; None when it cannot read back."""
        if (sink, dataset) not in self._read:
            scan = self._sinks[sink].scan(dataset)
            self._read[(sink, dataset)] = None if scan is None else _Hours(
                scan.filter(pl.col("ts") >= self._start, pl.col("ts") < self._end)
                .select("region", "ts").unique().collect())
        return self._read[(sink, dataset)]

    def covers(self, window: Window) -> bool:
        """Every sink can read back and holds every hour of ``window``."""
        return bool(self._sinks) and all(self._sink_covers(i, window) for i in range(len(self._sinks)))

    def _sink_covers(self, sink: int, window: Window) -> bool:
        hours = self._hours(sink, window.dataset)
        if hours is None:
            return False
        expected = math.ceil((window.end - window.start) / HOUR)
        if not window.regions:
            return hours.within(window) >= expected
        return all(hours.within(window, region) >= expected for region in window.regions)


class _Hours:
    """Distinct stored hours, sorted: per region, and those any region holds."""

    def __init__(self, pairs: pl.DataFrame) -> None:
        self._any_region = pairs["ts"].unique().sort().to_numpy()
        self._by_region = {region: rows["ts"].to_numpy()
                           for (region,), rows in pairs.sort("ts").partition_by("region", as_dict=True).items()}

    def within(self, window: Window, region: str | None = None) -> int:
        """How many of the hours ``region`` holds (any region: None) fall within the window."""
        hours = self._any_region if region is None else self._by_region.get(region)
        if hours is None:
            return 0
        start, end = (np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")
                      for moment in (window.start, window.end))
        return int(np.searchsorted(hours, end) - np.searchsorted(hours, start))


def lookback(source: type[Source], override: timedelta | None) -> timedelta:
    return override if override is not None else source.revision_lookback


@dataclass
class PlannedSource:
    """One source of a run, its client, and what it is to fetch."""

    source: Source
    http: HttpClient
    needed: list[Window]
    """To fetch: windows earlier runs left pending first, then this run's."""
    skipped: list[Window] = field(default_factory=list)
    """Not fetched: the sinks hold them."""
    resumed: int = 0
    """How many of ``needed`` earlier runs left pending."""


def plan_windows(prepared: Sequence[tuple[Source, HttpClient, list[Window]]], config: RunConfig, catalog: Catalog,
                 sinks: Sequence[Sink]) -> list[PlannedSource]:
    """Each source with the windows to fetch (pending ones of earlier runs first) and those skipped
    as already stored. ``prepared`` holds each source's own plan for the run's range."""
    planned = [PlannedSource(source, http, windows) for source, http, windows in prepared]
    if config.resume:
        for item in planned:
            item.needed, item.resumed = with_pending(catalog, item.source, config, item.needed)
    windows = [w for item in planned for w in item.needed]
    span = (min(w.start for w in windows), max(w.end for w in windows)) if windows else (config.start, config.end)
    stored = StoredHours(sinks, *span)
    for item in planned:
        item.needed, item.skipped = skip_stored(item.source, item.needed, stored, config)
    return planned


def with_pending(catalog: Catalog, source: Source, config: RunConfig,
                 windows: list[Window]) -> tuple[list[Window], int]:
    """Earlier runs' unstored windows of this source first, then ``windows`` (each window once), and
    how many were taken over."""
    planned = set(windows)
    resumed = [w for w in catalog.pending(source.name, config.datasets_of(type(source))) if w not in planned]
    if resumed:
        logger.info("%s: resuming %d window(s) that earlier runs did not store", source.name, len(resumed))
    return resumed + windows, len(resumed)


def skip_stored(source: Source, windows: list[Window], stored: StoredHours,
                config: RunConfig) -> tuple[list[Window], list[Window]]:
    """The windows to fetch and those skipped as already stored (none when the run refetches)."""
    if not config.incremental or config.refresh:
        return windows, []
    settled_before = datetime.now(UTC) - lookback(type(source), config.lookback)
    needed: list[Window] = []
    skipped: list[Window] = []
    for window in windows:
        (skipped if window.end <= settled_before and stored.covers(window) else needed).append(window)
    return needed, skipped


class PlanState(enum.StrEnum):
    """What a run would do with a window."""

    STORED = "stored"
    """Skipped: the sinks hold it."""
    CACHED = "cached"
    """Every request it needs is in the raw cache."""
    FETCH = "fetch"
    """At least one request goes to the service."""


@dataclass
class WindowPlan:
    window: Window
    state: PlanState
    cached: int = 0
    to_fetch: int = 0
    """Requests known to be needed; a paged answer may need more once the first page is seen."""
    calls: float = 0.0
    """What the service would count the window's requests as: the source's estimate."""


@dataclass
class SourcePlan:
    source: str
    windows: list[WindowPlan] = field(default_factory=list)
    seconds: float = 0.0
    """How long the request budget alone makes the fetches take."""
    quota: str | None = None
    """Why the fetches do not fit the service's quota, when they do not."""

    @property
    def requests(self) -> int:
        return sum(w.to_fetch for w in self.windows)

    @property
    def calls(self) -> float:
        return sum(w.calls for w in self.windows)


def estimated_calls(source: Source, windows: Sequence[Window]) -> float:
    return sum(source.cost(window) for window in windows)


@dataclass(frozen=True)
class Estimate:
    """What a source is about to fetch, for progress displays: its plan, and its live request counters."""

    windows: int
    calls: float
    """The service's calls the windows are estimated to take (fewer when the raw cache answers some)."""
    seconds: float
    """How long the budget makes those calls take."""
    stats: HttpStats
    """The source's client's counters, updated as each request ends (read them to follow it page by page)."""


def estimate(planned: PlannedSource) -> Estimate:
    calls = estimated_calls(planned.source, planned.needed)
    budget = planned.http.settings.effective_budget
    return Estimate(len(planned.needed), calls, budget_seconds(budget, calls), planned.http.stats)


def quota_problem(source: Source, http: HttpClient, calls: float) -> str | None:
    """What to tell the user before sending anything when ``calls`` do not fit a quota of the budget."""
    spent = over_quota(http.settings.effective_budget, calls)
    if not spent:
        return None
    quotas = " and ".join(f"{limit.requests:,.0f} per {describe_period(limit.per)}" for limit in spent)
    return (f"{source.name}: this run needs about {calls:,.0f} calls but the service allows {quotas}: it stops "
            "when the quota is spent and the windows left stay pending; run it again once the quota renews")


def dry_run(planned: PlannedSource, *, refresh: bool) -> SourcePlan:
    """Walk each window through the source with the network off (its client in dry-run mode): cached
    answers are parsed (so paged windows reveal their later pages), the first uncached request ends
    the window. On a refresh, every window goes to the service."""
    source, http = planned.source, planned.http
    plan = SourcePlan(source.name, [WindowPlan(w, PlanState.STORED) for w in planned.skipped])
    for window in planned.needed:
        if refresh:
            plan.windows.append(WindowPlan(window, PlanState.FETCH, 0, 1, source.cost(window)))
            continue
        with http.recording() as made:
            try:
                for _ in source.fetch(window):
                    pass
                missing = 0
            except EnergyError:  # WouldFetchError, or a cached answer the source refuses: fetched again
                missing = 1
        cached = sum(r.answer is Answer.CACHE for r in made)
        calls = max(1.0, source.cost(window) - cached) if missing else 0.0
        state = PlanState.FETCH if missing else PlanState.CACHED
        plan.windows.append(WindowPlan(window, state, cached, missing, calls))
    plan.seconds = budget_seconds(http.settings.effective_budget, plan.calls)
    plan.quota = quota_problem(source, http, plan.calls)
    return plan
