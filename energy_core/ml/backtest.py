"""Backtests: a forecaster trained on the past and scored month by month on back-to-back 24-hour
forecasts issued at 00:00 UTC, against the seasonal-naive baselines and, where the entity has one, a
reference forecast (a balancing authority's own day-ahead forecast), trained once or again every few
months from the last model's weights.

Each period trains on everything before the month preceding it, validates on that month (the epoch
with the lowest validation loss is kept) and is scored on the period alone, so no forecast is made by
a model that saw its hours. The periods' features are built in a feature store of the backtest's own
(``<out>/features``): the home's builds, exports and models stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from energy_core.errors import ConfigError
from energy_core.features import FeatureStore, Splits
from energy_core.home import Home
from energy_core.ml.evaluate import BASELINES, held_out_forecasts, interval_scores, score
from energy_core.ml.train import TrainConfig, train

REFERENCE = "reference"
"""The column of the reference forecast in :func:`backtest`'s hours."""
FIRST_MODEL = "first model"
"""The column of the first period's model's forecasts, through every period: the model trained once."""


@dataclass(frozen=True)
class BacktestPlan:
    test_start: datetime
    """The first hour scored: the first of a month, 00:00 UTC (forecasts are issued at 00:00 UTC)."""
    test_end: datetime
    """The end of the hours scored (exclusive)."""
    retrain_months: int | None = None
    """Train again every this many months (3: each quarter), from the last model's weights; None: once."""
    warm_epochs: int = 5
    """Epochs of each retraining after the first."""
    warm_learning_rate: float = 0.1
    """The peak learning rate of each retraining after the first, as a share of the first's: a retraining
    adapts the last model to the new months rather than training it again from where it stands."""
    reference: str | None = None
    """A feature of the entity that holds a forecast published before the issue time (EIA-930's
    ``eia.demand_forecast``: each BA's day-ahead forecast), scored on the same hours as the model."""
    point_in_time: bool = False
    """Train and forecast from the values known at each window's issue time, so no forecast and no training
    window sees a revision published after it (see :mod:`energy_core.features.vintages`)."""

    def periods(self) -> list[tuple[datetime, datetime]]:
        """The scored spans, one per model: [start, end) each."""
        if self.test_start != self.test_start.replace(day=1, hour=0, minute=0, second=0, microsecond=0):
            raise ConfigError(f"a backtest starts scoring on the first of a month at 00:00 UTC (the month before "
                              f"validates), not {self.test_start:%Y-%m-%d %H:%M}")
        if self.test_end <= self.test_start:
            raise ConfigError(f"the backtest's end ({self.test_end:%Y-%m-%d}) must follow its start "
                              f"({self.test_start:%Y-%m-%d})")
        if self.retrain_months is None:
            return [(self.test_start, self.test_end)]
        if self.retrain_months < 1:
            raise ConfigError(f"retrain every 1 month or more, not {self.retrain_months}")
        starts = [self.test_start]
        while (following := add_months(starts[-1], self.retrain_months)) < self.test_end:
            starts.append(following)
        return list(zip(starts, [*starts[1:], self.test_end], strict=True))


def backtest(home: Home | Path | str, config: TrainConfig, plan: BacktestPlan, out: Path, *,
             progress: Callable[[str], object] = print) -> pl.DataFrame:
    """Train and score ``config.entity`` over ``plan``'s periods; models and features go under ``out``.

    Returns one row per scored hour: ``ts``, ``period`` (its model's first hour), ``actual``, ``model``,
    one column per baseline, with a reference ``reference`` and, with retraining, ``first model`` (the
    first period's model forecasting every period, as if never retrained: both from one run). Every
    hour is one that all of them forecast and whose actual value was observed.
    """
    home = Home.of(home)
    store = FeatureStore(home, uri=str(out / "features"), exports=out / "features" / "exports")
    previous: Path | None = None
    hours, first_model = [], None
    for start, end in plan.periods():
        splits = Splits(val_start=add_months(start, -1), test_start=start)
        store.build([config.entity], splits=splits)
        folder = out / "models" / f"{config.entity}-{start:%Y-%m-%d}"
        epochs = config.epochs if previous is None else plan.warm_epochs
        learning_rate = config.learning_rate * (1 if previous is None else plan.warm_learning_rate)
        progress(f"{config.entity}: trained to {splits.val_start:%Y-%m-%d}, validated on the month to "
                 f"{start:%Y-%m-%d}, scored to {end:%Y-%m-%d} ({epochs} epochs"
                 f"{', warm' if previous else ''})")
        period_config = replace(config, epochs=epochs, learning_rate=learning_rate,
                                point_in_time=config.point_in_time or plan.point_in_time)
        train(store, period_config, folder, warm_start=previous, progress=lambda line: progress(f"  {line}"))
        scored = held_out_forecasts(store, folder, split="test", point_in_time=plan.point_in_time) \
            .filter(pl.col("ts") < plan.test_end)
        if previous is None and plan.retrain_months is not None:
            first_model = scored.select("ts", pl.col("model").alias(FIRST_MODEL))
        scored = scored.filter(pl.col("ts") < end).with_columns(period=pl.lit(start).dt.replace_time_zone("UTC"))
        if plan.reference is not None:
            scored = _with_reference(store, config.entity, plan.reference, scored)
        hours.append(scored)
        previous = folder
    scored = pl.concat(hours).sort("ts")
    return scored if first_model is None else scored.join(first_model, on="ts", how="inner")


def monthly(hours: pl.DataFrame) -> pl.DataFrame:
    """Per month: the hours scored, MAPE and MAE of the model, each baseline and the reference, the
    coverage of [P10, P90] and the pinball loss of the model's quantiles and the baselines' empirical
    ones, and the model's gain (percent lower MAPE) against the better baseline of the month and the
    reference."""
    forecasters = ["model", *BASELINES, *(name for name in (FIRST_MODEL, REFERENCE) if name in hours.columns)]
    rows = []
    for (month,), group in hours.group_by(pl.col("ts").dt.strftime("%Y-%m"), maintain_order=True):
        actual = group["actual"].to_numpy()
        scores = {name: score(group[name].to_numpy(), actual) for name in forecasters}
        best = min(BASELINES, key=lambda name: scores[name].mape)
        row: dict[str, object] = {"month": month, "hours": len(group), "better_baseline": best}
        for name, s in scores.items():
            row[f"{name} MAPE"], row[f"{name} MAE"] = s.mape, s.mae
        for name, interval in interval_scores(group).items():
            row[f"{name} coverage"], row[f"{name} pinball"] = interval.coverage, interval.pinball
        row["gain vs baseline"] = _gain(scores["model"].mape, scores[best].mape)
        if FIRST_MODEL in scores:
            row["gain vs first model"] = _gain(scores["model"].mape, scores[FIRST_MODEL].mape)
        if REFERENCE in scores:
            row["gain vs reference"] = _gain(scores["model"].mape, scores[REFERENCE].mape)
        rows.append(row)
    return pl.DataFrame(rows)


def _gain(model: float, other: float) -> float:
    return 100 * (1 - model / other) if other else float("nan")


def _with_reference(store: FeatureStore, entity: str, reference: str, scored: pl.DataFrame) -> pl.DataFrame:
    """``scored`` with the reference's value at each hour, on the hours it has one."""
    info, ts, values, mask = store.arrays(entity)
    if reference not in info.features:
        raise ConfigError(f"entity {entity!r} has no feature {reference!r} to compare with; it has "
                          f"{', '.join(info.features)}")
    column = info.features.index(reference)
    rows = np.searchsorted(ts, scored["ts"].dt.replace_time_zone(None).to_numpy())
    known = mask[rows, column].astype(bool)
    return scored.with_columns(pl.Series(REFERENCE, values[rows, column].astype(np.float64))).filter(known)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` as many calendar months later (earlier when negative), on the same day and hour."""
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)
