"""Gaps: the hours of a run's range that its sinks hold no row for, per stored series."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import polars as pl

from energy_core.plugin.interfaces import Sink
from energy_core.plugin.windows import month_windows

Series = tuple[str, str, str]
"""(dataset, region, series)"""


def gaps(sinks: Sequence[Sink], datasets: Sequence[str], start: datetime, end: datetime,
         regions: Sequence[str] = ()) -> dict[Series, int]:
    """Hours in ``[start, end)`` with no stored row, per (dataset, region, series) that a sink holds
    rows of (a series no sink holds at all is not reported).

    Read from every sink that can read back; where they differ, the sink missing more hours of a
    series counts. Sinks that cannot read back report nothing. The range is read a month at a time,
    so memory stays that of a month whatever the range (a run over a decade reads a decade).
    """
    expected = int((end - start).total_seconds() // 3600)
    missing: dict[Series, int] = {}
    for sink in sinks:
        scan = sink.scan()
        if scan is None:
            continue
        held = _hours_held(scan, datasets, start, end, regions)
        for key, hours in held.items():
            if hours < expected:
                missing[key] = max(missing.get(key, 0), expected - hours)
    return missing


def _hours_held(scan: pl.LazyFrame, datasets: Sequence[str], start: datetime, end: datetime,
                regions: Sequence[str]) -> Counter[Series]:
    held: Counter[Series] = Counter()
    wanted = set(regions)
    for month_start, month_end in month_windows(start, end):
        month = (
            scan.filter(pl.col("dataset").is_in(list(datasets)), pl.col("ts") >= month_start, pl.col("ts") < month_end)
            .group_by("dataset", "region", "series")
            .agg(hours=pl.col("ts").dt.truncate("1h").n_unique())
            .collect()
        )
        for dataset, region, series, hours in month.iter_rows():
            if not wanted or region in wanted:  # here, not in the scan: matching every row doubled the read
                held[(dataset, region, series)] += hours
    return held
