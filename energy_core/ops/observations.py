"""Stored observations of one dataset, region and time range, read one consistent partition at a time.

A partition is opened once and read whole through that handle: the store replaces a partition by
renaming a finished file over it, so an open file is either the old partition or the new one, never
a mix (a lazy scan that plans on one file and reads another could pair them). Partitions read are
kept, by file identity, in a cache bounded in bytes: a partition the store has not replaced since is
not read again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from energy_core.home import Home
from energy_core.storage.parquet import PARTITION_FILE, ParquetStore
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

_Stamp = tuple[int, int, int, int]
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
        self.store = ParquetStore(Home.of(home).processed)
        self.cache_bytes = cache_bytes
        self._partitions: OrderedDict[Path, tuple[_Stamp, pl.DataFrame]] = OrderedDict()
        self._held = 0
        self._names: dict[str, tuple[tuple[tuple[str, int], ...], dict[str, list[str]]]] = {}
        self._lock = threading.Lock()
        self._reading: dict[Path, threading.Lock] = {}

    def datasets(self) -> list[str]:
        """The datasets stored (one listing of the store's folder)."""
        return self.store.datasets()

    def series_by_region(self, dataset: str) -> dict[str, list[str]]:
        """Region -> the series stored for it, in ``dataset`` (read again only after the store changed)."""
        files = self.store.files(dataset)
        state = tuple((str(f), f.stat().st_mtime_ns) for f in files)
        with self._lock:
            known = self._names.get(dataset)
        if known is not None and known[0] == state:
            return known[1]
        pairs = (self.store.scan(dataset).select("region", "series").unique().sort("region", "series").collect()
                 if files else pl.DataFrame(schema={"region": pl.String, "series": pl.String}))
        names: dict[str, list[str]] = {}
        for region, series in pairs.iter_rows():
            names.setdefault(region, []).append(series)
        with self._lock:
            self._names[dataset] = state, names
        return names

    def read(self, selection: Selection, limit: int) -> tuple[pl.DataFrame, bool]:
        """The rows of ``selection`` sorted by hour and series, at most ``limit`` of them, and whether
        more were stored."""
        first, end = (_microseconds(selection.start), _microseconds(selection.end))
        wanted = [pl.col("region") == selection.region, pl.col("ts").to_physical() >= first,
                  pl.col("ts").to_physical() < end]  # integers: a tz-aware datetime literal costs more than the read
        if selection.series is not None:
            wanted.append(pl.col("series") == selection.series)
        frames = []
        for path in self._partition_paths(selection):
            partition = self._partition(path)
            if partition is not None:
                frames.append(partition.filter(*wanted))
        if not frames:
            return POLARS_SCHEMA.to_frame(), False
        rows = pl.concat(frames).sort("ts", "series")
        return rows.head(limit), rows.height > limit

    def _partition_paths(self, selection: Selection) -> list[Path]:
        start = selection.start.astimezone(UTC)
        last = (selection.end.astimezone(UTC) - _MICROSECOND)
        year, month, paths = start.year, start.month, []
        while (year, month) <= (last.year, last.month):
            paths.append(self.store.partition_dir(selection.dataset, year, month) / PARTITION_FILE)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return paths

    def _partition(self, path: Path) -> pl.DataFrame | None:
        with self._lock:
            reading = self._reading.setdefault(path, threading.Lock())
        with reading:  # one read of a partition at a time: the threads that wait for it find it cached
            return self._read_partition(path)

    def _read_partition(self, path: Path) -> pl.DataFrame | None:
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                with self._lock:
                    cached = self._partitions.get(path)
                    if cached is not None and cached[0] == stamp:
                        self._partitions.move_to_end(path)
                        return cached[1]
                frame = pl.read_parquet(fh, schema=POLARS_SCHEMA).select(COLUMNS)
        except FileNotFoundError:
            return None
        self._keep(path, stamp, frame)
        return frame

    def _keep(self, path: Path, stamp: _Stamp, frame: pl.DataFrame) -> None:
        size = int(frame.estimated_size())
        with self._lock:
            old = self._partitions.pop(path, None)
            if old is not None:
                self._held -= int(old[1].estimated_size())
            if size > self.cache_bytes:
                return
            self._partitions[path] = stamp, frame
            self._held += size
            while self._held > self.cache_bytes:
                _, (_, evicted) = self._partitions.popitem(last=False)
                self._held -= int(evicted.estimated_size())


def _microseconds(moment: datetime) -> int:
    """``moment`` as the integer behind a ``timestamp[us, UTC]`` value."""
    return (moment - _EPOCH) // _MICROSECOND
