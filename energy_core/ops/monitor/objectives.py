"""Freshness and completeness of the stored data, held to the objectives.

Freshness: how long ago the last hour with a value ended. Completeness: the longest run of hours
without a value between two hours with one, over the objective's last days (the hours after the last
value are freshness's to judge). A stored null counts as missing. Hours after ``now`` (a forecast's)
are left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from energy_core.home import Home
from energy_core.ops.monitor.settings import Objective, describe_duration, hours
from energy_core.plugin.alerting import CheckKind, CheckResult
from energy_core.storage.lake import Lake

_HOUR = timedelta(hours=1)


def check_objectives(home: Home | Path, objectives: Sequence[Objective], now: datetime) -> list[CheckResult]:
    """One result per objective, region and limit (freshness, completeness)."""
    store = Lake(home)
    return [result for objective in objectives for result in _check(store, objective, now)]


def _check(store: Lake, objective: Objective, now: datetime) -> list[CheckResult]:
    since = now - objective.within
    scan = store.scan(objective.dataset).filter(pl.col("value").is_not_null(), pl.col("ts") < now)
    if objective.series:
        scan = scan.filter(pl.col("series") == objective.series)
    if objective.regions:
        scan = scan.filter(pl.col("region").is_in(objective.regions))
    # two passes, a streaming one over every hour for the last values and one over the recent hours only:
    # a third of the memory of one pass that does both (benchmarks/README.md, "Monitor")
    ends = scan.group_by("region").agg(last=pl.col("ts").max(), before=pl.col("ts").filter(pl.col("ts") < since).max())
    recent = scan.filter(pl.col("ts") >= since).group_by("region").agg(recent=pl.col("ts").unique().sort())
    frame = ends.collect(engine="streaming").join(recent.collect(), on="region", how="left")
    found = {row["region"]: row for row in frame.iter_rows(named=True)}
    regions = objective.regions or tuple(sorted(found))
    if not regions:
        stored = ", ".join(store.datasets()) or "none"
        return [_missing(objective, "*", f"nothing stored for {objective.dataset}"
                                         f"{' ' + objective.series if objective.series else ''} (datasets stored: "
                                         f"{stored}); check the objective's dataset and series, or run `energy run`")]
    results = []
    for region in regions:
        row = found.get(region)
        if row is None:
            results.append(_missing(objective, region, "no stored value; check the region's code, or run "
                                                       "`energy run` for its source"))
            continue
        if objective.max_age is not None:
            results.append(_freshness(objective, region, row["last"], now))
        if objective.max_gap is not None:
            anchors = ([row["before"]] if row["before"] is not None else []) + list(row["recent"] or [])
            results.append(_completeness(objective, region, anchors))
    return results


def _subject(objective: Objective, region: str) -> str:
    return " ".join(filter(None, (objective.dataset, region, objective.series)))


def _missing(objective: Objective, region: str, why: str) -> CheckResult:
    kind = CheckKind.FRESHNESS if objective.max_age is not None else CheckKind.COMPLETENESS
    return CheckResult(kind, _subject(objective, region), ok=False, summary=f"{_subject(objective, region)}: {why}")


def _freshness(objective: Objective, region: str, last: datetime, now: datetime) -> CheckResult:
    assert objective.max_age is not None
    lag = now - (last + _HOUR)
    subject = _subject(objective, region)
    ok = lag <= objective.max_age
    summary = (f"{subject}: the last value is for {last:%Y-%m-%d %H}:00 UTC, {hours(lag):.1f} h old "
               f"(objective: at most {describe_duration(objective.max_age)})")
    return CheckResult(CheckKind.FRESHNESS, subject, ok, summary, round(hours(lag), 3), hours(objective.max_age))


def _completeness(objective: Objective, region: str, anchors: list[datetime]) -> CheckResult:
    assert objective.max_gap is not None
    longest, start = timedelta(), None
    for before, after in itertools.pairwise(anchors):
        missing = after - before - _HOUR
        if missing > longest:
            longest, start = missing, before + _HOUR
    subject = _subject(objective, region)
    limit = (f"objective: no gap over {describe_duration(objective.max_gap)} in the last "
             f"{describe_duration(objective.within)}")
    if start is None:
        summary = f"{subject}: no hour missing between stored values ({limit})"
    else:
        end = start + longest - _HOUR
        summary = (f"{subject}: {hours(longest):.0f} h missing from {start:%Y-%m-%d %H}:00 to {end:%Y-%m-%d %H}:00 "
                   f"UTC ({limit})")
    return CheckResult(CheckKind.COMPLETENESS, subject, longest <= objective.max_gap, summary, hours(longest),
                       hours(objective.max_gap))
