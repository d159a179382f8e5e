"""What a run needs to fetch: windows the store already holds are skipped (incremental runs), and a
dry run (``energy run --plan``) walks each window through the raw cache without touching the network.

A window counts as stored when every hour of it has a row for each region it asks for (any region
when it names none). Recent windows are fetched again whatever the store holds, because the
sources revise recent hours: how recent is the source's ``revision_lookback`` unless the run gives
its own look-back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from energy_core.errors import EnergyError
from energy_core.ingest.budget import budget_seconds
from energy_core.ingest.client import CACHE_HIT, HttpClient
from energy_core.plugin.interfaces import Source, Window
from energy_core.storage.parquet import ParquetStore

HOUR = timedelta(hours=1)


class StoredHours:
    """The (region, hour) pairs stored per dataset within a span, read once per dataset."""

    def __init__(self, store: ParquetStore, start: datetime, end: datetime) -> None:
        self._store, self._start, self._end = store, start, end
        self._by_dataset: dict[str, pl.DataFrame] = {}

    def _hours(self, dataset: str) -> pl.DataFrame:
        if dataset not in self._by_dataset:
            self._by_dataset[dataset] = (
                self._store.scan(dataset)
                .filter(pl.col("ts") >= self._start, pl.col("ts") < self._end)
                .select("region", "ts").unique().collect())
        return self._by_dataset[dataset]

    def covers(self, window: Window) -> bool:
        expected = math.ceil((window.end - window.start) / HOUR)
        rows = self._hours(window.dataset).filter(pl.col("ts") >= window.start, pl.col("ts") < window.end)
        if not window.regions:
            return rows["ts"].n_unique() >= expected
        counts = dict(rows.group_by("region").len().iter_rows())
        return all(counts.get(region, 0) >= expected for region in window.regions)


def lookback(source: type[Source], override: timedelta | None) -> timedelta:
    return override if override is not None else source.revision_lookback


@dataclass
class WindowPlan:
    window: Window
    state: str
    """``stored`` (skipped), ``cached`` (every request in the raw cache) or ``fetch``."""
    cached: int = 0
    to_fetch: int = 0
    """Requests known to be needed; a paged answer may need more once the first page is seen."""


@dataclass
class SourcePlan:
    source: str
    windows: list[WindowPlan] = field(default_factory=list)
    seconds: float = 0.0
    """How long the request budget alone makes the fetches take."""

    @property
    def requests(self) -> int:
        return sum(w.to_fetch for w in self.windows)


def dry_run(source: Source, http: HttpClient, windows: list[Window], skipped: list[Window]) -> SourcePlan:
    """Walk each window through the source with the network off: cached answers are parsed (so paged
    windows reveal their later pages), the first uncached request ends the window."""
    plan = SourcePlan(source.name, [WindowPlan(w, "stored") for w in skipped])
    http.dry_run = True
    for window in windows:
        first = len(http.history)
        try:
            for _ in source.fetch(window):
                pass
            missing = 0
        except EnergyError:  # WouldFetchError, or a cached answer the source refuses: fetched again
            missing = 1
        cached = sum(r.startswith(CACHE_HIT) for r in http.history[first:])
        plan.windows.append(WindowPlan(window, "fetch" if missing else "cached", cached, missing))
    plan.seconds = budget_seconds(http.budget_override or type(source).budget, plan.requests)
    return plan
