"""Stored observations of one dataset, region and time range, read from one version of its table.

A request reads every month it spans from the same table version (a Delta snapshot), so it never pairs
a month before a commit with one after it. Months read are kept, with the version they were read at,
in a cache bounded in bytes: a month is read again only after its table has a new version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from energy_core.home import Home
from energy_core.storage.lake import Lake
from energy_core.storage.revisions import current
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

if TYPE_CHECKING:
    from deltalake import DeltaTable

_Month = tuple[str, int, int]
_MICROSECOND = datetime.resolution
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Selection:
    """What to read: ``[start, end)`` UTC of one dataset and region, one series or all of them."""

    dataset: str
    region: str
    series: str | None
    start: datetime
    end: datetime


class ObservationReader:
    """Reads :class:`Selection`\\ s from a home's processed store; safe to share between threads."""

    def __init__(self, home: Home | Path, *, cache_bytes: int = 256 * 2**20) -> None:
        self.store = Lake(home)
        self.cache_bytes = cache_bytes
        self._months: OrderedDict[_Month, tuple[int, pl.DataFrame]] = OrderedDict()
        self._held = 0
        self._names: dict[str, tuple[int, dict[str, list[str]]]] = {}
        self._lock = threading.Lock()
        self._reading: dict[_Month, threading.Lock] = {}

    def datasets(self) -> list[str]:
        """The datasets stored (one listing of the store's folder)."""
        return self.store.datasets()

    def version(self, dataset: str) -> int | None:
        """The version :meth:`read` reads ``dataset`` at now, None when it has no table."""
        table = self.store.snapshot(dataset)
        return None if table is None else table.version()

    def series_by_region(self, dataset: str) -> dict[str, list[str]]:
        """Region -> the series stored for it, in ``dataset`` (read again only after the table changed)."""
        table = self.store.snapshot(dataset)
        version = -1 if table is None else table.version()
        with self._lock:
            known = self._names.get(dataset)
        if known is not None and known[0] == version:
            return known[1]
        pairs = (self.store.scan(dataset).select("region", "series").unique().sort("region", "series").collect()
                 if table is not None else pl.DataFrame(schema={"region": pl.String, "series": pl.String}))
        names: dict[str, list[str]] = {}
        for region, series in pairs.iter_rows():
            names.setdefault(region, []).append(series)
        with self._lock:
            self._names[dataset] = version, names
        return names

    def read(self, selection: Selection, limit: int) -> tuple[pl.DataFrame, bool]:
        """The rows of ``selection`` sorted by hour and series, at most ``limit`` of them, and whether
        more were stored."""
        table = self.store.snapshot(selection.dataset)
        if table is None:
            return POLARS_SCHEMA.to_frame(), False
        first, end = (_microseconds(selection.start), _microseconds(selection.end))
        wanted = [pl.col("region") == selection.region, pl.col("ts").to_physical() >= first,
                  pl.col("ts").to_physical() < end]  # integers: a tz-aware datetime literal costs more than the read
        if selection.series is not None:
            wanted.append(pl.col("series") == selection.series)
        frames = [self._month(table, month).filter(*wanted) for month in _months(selection)]
        rows = pl.concat(frames).sort("ts", "series")
        return rows.head(limit), rows.height > limit

    def _month(self, table: DeltaTable, month: _Month) -> pl.DataFrame:
        with self._lock:
            reading = self._reading.setdefault(month, threading.Lock())
        with reading:  # one read of a month at a time: the threads that wait for it find it cached
            version = table.version()
            with self._lock:
                cached = self._months.get(month)
                if cached is not None and cached[0] == version:
                    self._months.move_to_end(month)
                    return cached[1]
            frame = Lake.read_month(table, month[1], month[2]).filter(current()).select(COLUMNS)
            self._keep(month, version, frame)
            return frame

    def _keep(self, month: _Month, version: int, frame: pl.DataFrame) -> None:
        size = int(frame.estimated_size())
        with self._lock:
            old = self._months.pop(month, None)
            if old is not None:
                self._held -= int(old[1].estimated_size())
            if size > self.cache_bytes:
                return
            self._months[month] = version, frame
            self._held += size
            while self._held > self.cache_bytes:
                _, (_, evicted) = self._months.popitem(last=False)
                self._held -= int(evicted.estimated_size())


def _months(selection: Selection) -> list[_Month]:
    start = selection.start.astimezone(UTC)
    last = (selection.end.astimezone(UTC) - _MICROSECOND)
    year, month, months = start.year, start.month, []
    while (year, month) <= (last.year, last.month):
        months.append((selection.dataset, year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _microseconds(moment: datetime) -> int:
    """``moment`` as the integer behind a ``timestamp[us, UTC]`` value."""
    return (moment - _EPOCH) // _MICROSECOND
