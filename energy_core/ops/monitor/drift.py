"""Forecast accuracy drift: issued forecasts, scored against the actual values that arrived since,
beside the seasonal-naive baselines scored on the same hours.

The forecasts are those of the issued-forecast log (``energy forecast``, ``energy serve`` and the
scheduled flows write it); the actual values are each entity's built target. A baseline forecasts an
hour with the actual value of the same hour a day or a week earlier, both known when a day-ahead
forecast was issued. The model drifts when its MAPE exceeds the better baseline's by more than the
tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from energy_core.home import Home
from energy_core.ops import issued, live
from energy_core.plugin.alerting import CheckKind, CheckResult

BASELINES = {"same hour yesterday": 24, "same hour last week": 168}
"""Seasonal-naive baselines and their lags in hours (those ``energy evaluate`` scores)."""


@dataclass(frozen=True)
class Drift:
    """How issued forecasts of one entity did, over the hours where the model and both baselines can
    be scored."""

    entity: str
    hours: int
    issues: int
    model_mape: float
    baselines: dict[str, float]
    """Baseline name -> its MAPE on the same hours (percent)."""

    @property
    def best_baseline(self) -> str:
        return min(self.baselines, key=lambda name: self.baselines[name])


def scores(entity: str, issues: pl.DataFrame, actual: pl.DataFrame) -> Drift:
    """Score ``issues`` (rows of :func:`energy_core.ops.issued.issued`) and the baselines against
    ``actual`` (``ts``, ``actual``: observed hours only); hours whose actual value is zero are left out."""
    scored = issues.select("issued_at", "ts", "value").join(actual, on="ts", how="inner")
    for name, lag in BASELINES.items():
        shifted = actual.select(pl.col("ts") + pl.duration(hours=lag), pl.col("actual").alias(name))
        scored = scored.join(shifted, on="ts", how="inner")
    scored = scored.filter(pl.col("actual") != 0)

    def mape(column: str) -> float:
        if scored.height == 0:
            return float("nan")
        error = (scored[column] - scored["actual"]).abs() / scored["actual"].abs()
        return float(error.mean()) * 100  # type: ignore[arg-type]

    return Drift(entity, scored.height, scored["issued_at"].n_unique(), mape("value"),
                 {name: mape(name) for name in BASELINES})


def check_drift(home: Home | Path, now: datetime, *, days: float, tolerance: float,
                min_hours: int) -> list[CheckResult]:
    """One result per entity with forecasts issued in the last ``days`` and a built target."""
    results = []
    for entity in issued.entities(home):
        drift = entity_drift(home, entity, now - timedelta(days=days))
        if drift is None:
            continue
        if drift.hours < min_hours:
            results.append(CheckResult(CheckKind.DRIFT, entity, True,
                                       f"{entity}: {drift.hours} forecast hour(s) issued in the last {days:g} days "
                                       f"have an actual value so far; drift is judged from {min_hours}"))
            continue
        best = drift.best_baseline
        limit = drift.baselines[best] * (1 + tolerance)
        ok = drift.model_mape <= limit
        summary = (f"{entity}: forecasts issued in the last {days:g} days have a MAPE of {drift.model_mape:.2f}% over "
                   f"{drift.hours} hours ({drift.issues} issue(s)); the better seasonal-naive baseline ({best}) has "
                   f"{drift.baselines[best]:.2f}%, and the model may exceed it by {tolerance:.0%}")
        if not ok:
            summary += "; retrain it (`energy train`) or look at what changed in its data"
        results.append(CheckResult(CheckKind.DRIFT, entity, ok, summary, round(drift.model_mape, 4), round(limit, 4)))
    return results


def entity_drift(home: Home | Path, entity: str, since: datetime) -> Drift | None:
    """The drift of forecasts issued for ``entity`` since ``since``; None when none was issued or the
    entity has no built target to score against."""
    issues = issued.issued(home, entity, since=since)
    if issues.height == 0 or not live.export_path(home, entity).exists():
        return None
    first = issues["ts"].min()
    assert isinstance(first, datetime)
    snapshot = live.read(home, entity, 1)  # the last built hour, to size the read below
    last = datetime.fromisoformat(snapshot.info.last_ts)
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    if last < first:
        return Drift(entity, 0, 0, float("nan"), dict.fromkeys(BASELINES, float("nan")))
    span = int((last - first) / timedelta(hours=1)) + 1 + max(BASELINES.values())
    return scores(entity, issues, live.read(Home.of(home), entity, span).target())
