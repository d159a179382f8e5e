"""Quality flags on recent hours, from the flags the last ``energy quality`` saved.

A flag whose span ends within the last days fails its check until a later ``energy quality`` no
longer finds it (or it grows old). Gaps are left to the completeness objectives, which say how long a
gap may be.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from energy_core.home import Home
from energy_core.plugin.alerting import CheckKind, CheckResult

_LEFT_TO_OBJECTIVES = ("gap",)


def check_quality(home: Home | Path, now: datetime, days: float) -> list[CheckResult]:
    """One failing result per check, dataset, region and series flagged on hours of the last ``days``."""
    path = Home.of(home).quality_flags
    if days <= 0 or not path.exists():
        return []
    recent = (pl.read_parquet(path)
              .filter(pl.col("end") >= now - timedelta(days=days), ~pl.col("check").is_in(_LEFT_TO_OBJECTIVES))
              .sort("end"))
    results = []
    for (check, dataset, region, series), spans in recent.group_by("check", "dataset", "region", "series",
                                                                   maintain_order=True):
        last = spans.row(-1, named=True)
        subject = f"{check} {dataset} {region} {series}"
        summary = (f"{dataset} {region} {series}: {spans.height} {check} span(s) in the last {days:g} days, the "
                   f"last from {last['start']:%Y-%m-%d %H}:00 to {last['end']:%Y-%m-%d %H}:00 UTC: {last['detail']}")
        results.append(CheckResult(CheckKind.QUALITY, subject, False, summary, float(spans.height)))
    return sorted(results, key=lambda r: r.subject)
