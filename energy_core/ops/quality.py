"""Data-quality checks on the processed store.

Each check yields flags: (check, dataset, region, series, start, end, hours, detail), where
[start, end] are the first and last flagged hours. ``gap``, ``duplicate``, ``stuck``, ``outlier`` and
``impossible`` look at one series; ``misstamp`` finds a series stamped whole hours off the series it must
line up with (a day-ahead demand forecast against demand); plugins add checks that compare series of their datasets
(:class:`~energy_core.plugin.contributions.QualityCheck`, through ``register_quality_checks``).
The flags are saved under ``<home>/quality/flags.parquet``; the feature store masks the hours of
``stuck``, ``outlier`` and ``impossible`` flags (the value is there, but not to be trusted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from energy_core.errors import PluginError
from energy_core.home import Home
from energy_core.ops.quality_config import QualityConfig
from energy_core.plugin.contributions import QualityCheck
from energy_core.storage.flags import FLAG_SCHEMA, flag_detail
from energy_core.storage.flags import MASKED_CHECKS as MASKED_CHECKS  # re-exported for `energy quality`
from energy_core.storage.flags import save as save  # re-exported for `energy quality`
from energy_core.storage.lake import Lake
from energy_core.storage.schema import IMPUTED, KEY

CONSUMPTION = ("demand", "demand_forecast", "load")
"""Series (and ``load_forecast.*``) of what is consumed: never negative, and smooth from hour to hour."""
MISSTAMP_REFERENCES = {"demand_forecast": "demand"}
"""A series -> the series of its dataset and region it must line up with hour for hour."""
MISSTAMP_LAGS = range(-3, 4)
"""Whole-hour lags tried, per calendar month."""
MISSTAMP_MARGIN = 0.02
"""How much better than as stamped (in rank correlation) a lag must match to be flagged."""
MISSTAMP_MIN_HOURS = 14 * 24
"""Fewer paired hours in a month than this, and the month is not judged."""
_GROUP = ["dataset", "region", "series"]
_consumption = pl.col("series").is_in(CONSUMPTION) | pl.col("series").str.starts_with("load_forecast")


ROWS_AT_ONCE = 5_000_000
"""Stored rows checked at once: a home holding more is checked a group of regions at a time (a region's
series whole), each group read from the lake in one pass. Ten years of 67 BAs (63.5 M rows): 78 s and 1.8 GiB
at peak, against 135 s and 9.7 GiB reading each dataset whole."""


def check(home: Home | Path, datasets: tuple[str, ...] = (), regions: tuple[str, ...] = (),
          config: QualityConfig = QualityConfig(), checks: Sequence[QualityCheck] = (), *,
          rows_at_once: int = ROWS_AT_ONCE) -> pl.DataFrame:
    """Run every per-series check over the stored data (optionally narrowed), then each of ``checks``
    (the plugins' own, from ``registry.quality_checks``) whose datasets are all among those checked;
    return the flags. Regions are checked in groups of at most ``rows_at_once`` rows (a larger region
    alone), so memory does not grow with the home."""
    store = Lake(home)
    scans = {dataset: _narrowed(store.scan(dataset), regions) for dataset in datasets or store.datasets()}
    flags = []
    for group in region_groups(_rows_per_region(scans), rows_at_once):
        frames = {dataset: _read(scan, group) for dataset, scan in scans.items()}
        for rows in frames.values():
            # imputed series (``energy quality --screen``) hold values only where the reported ones fail: not checked
            reported = rows.filter(~pl.col("series").str.contains(IMPUTED, literal=True))
            if reported.height:
                flags += [gaps(reported), duplicates(reported), stuck(reported, config), outliers(reported, config),
                          impossible(reported), misstamped(reported)]
        for contributed in checks:
            if set(contributed.datasets) <= frames.keys():
                flags.append(_run(contributed, {name: frames[name] for name in contributed.datasets}))
    if not flags:
        return pl.DataFrame(schema=FLAG_SCHEMA)
    return pl.concat([f.select(FLAG_SCHEMA.keys()).cast(FLAG_SCHEMA) for f in flags]).sort(_ORDER)


_ORDER = ["check", "dataset", "region", "series", "start"]
"""Of the flags: the same whatever the groups of regions were."""


def region_groups(rows: dict[str, int], rows_at_once: int) -> list[list[str]]:
    """Regions (by name, with their rows) in groups of at most ``rows_at_once`` rows, a larger region alone;
    one group (or none) when everything fits."""
    groups: list[list[str]] = []
    held = 0
    for region in sorted(rows):
        if not groups or held + rows[region] > rows_at_once:
            groups.append([])
            held = 0
        groups[-1].append(region)
        held += rows[region]
    return groups


def _narrowed(scan: pl.LazyFrame, regions: tuple[str, ...]) -> pl.LazyFrame:
    return scan.filter(pl.col("region").is_in(regions)) if regions else scan


def _rows_per_region(scans: dict[str, pl.LazyFrame]) -> dict[str, int]:
    """Stored rows per region, over every dataset checked (a streaming pass over the region column)."""
    counts = [scan.group_by("region").agg(rows=pl.len()) for scan in scans.values()]
    if not counts:
        return {}
    total = pl.concat(counts).group_by("region").agg(pl.col("rows").sum()).collect(engine="streaming")
    return dict(total.iter_rows())


def _read(scan: pl.LazyFrame, regions: list[str]) -> pl.DataFrame:
    """A dataset's rows of ``regions``, in hour order (``.over(series)`` keeps it)."""
    return scan.filter(pl.col("region").is_in(regions)).select(*KEY, "value").collect().sort("ts")


def gaps(frame: pl.DataFrame) -> pl.DataFrame:
    """Hours without a value between a series' first and last observed hour."""
    observed = frame.filter(pl.col("value").is_not_null())
    return (observed.with_columns(previous=pl.col("ts").shift(1).over(_GROUP))
            .filter(pl.col("ts") - pl.col("previous") > timedelta(hours=1))
            .select(*_GROUP, check=pl.lit("gap"), start=pl.col("previous") + timedelta(hours=1),
                    end=pl.col("ts") - timedelta(hours=1))
            .with_columns(hours=(pl.col("end") - pl.col("start")).dt.total_hours() + 1,
                          detail=pl.lit("no value")))


def duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    return (frame.group_by(KEY).len().filter(pl.col("len") > 1)
            .select(*_GROUP, check=pl.lit("duplicate"), start="ts", end="ts", hours=pl.lit(1),
                    detail=flag_detail("stored {} times", "len")))


def stuck(frame: pl.DataFrame, config: QualityConfig) -> pl.DataFrame:
    """Runs of one repeated non-zero value over consecutive hours (a frozen meter or feed)."""
    same = ((pl.col("value") == pl.col("value").shift(1).over(_GROUP))
            & (pl.col("ts") - pl.col("ts").shift(1).over(_GROUP) == timedelta(hours=1)))
    runs = (frame.filter(pl.col("value").is_not_null())
            .with_columns(run=(~same.fill_null(False)).cum_sum().over(_GROUP))
            .group_by(*_GROUP, "run").agg(start=pl.col("ts").min(), end=pl.col("ts").max(), hours=pl.len(),
                                         value=pl.col("value").first()))
    return (runs.filter(pl.col("hours") >= config.stuck_hours, pl.col("value") != 0)
            .select(*_GROUP, check=pl.lit("stuck"), start="start", end="end", hours="hours",
                    detail=flag_detail("value {} repeated", "value")))


def outliers(frame: pl.DataFrame, config: QualityConfig) -> pl.DataFrame:
    """Spikes in consumption series: an hour far from the median of the seven hours centred on it,
    in units of the series' typical hour-to-hour change (a robust scale).

    A step, a ramp or a heat wave moves the neighbours too, so it is not flagged; a reading that
    jumps away and back is. Generation, prices and weather are not scored: their jumps are real
    (a unit trips, a cloud passes), and a profile would mask true events as bad data.
    """
    value = pl.col("value")
    scored = (frame.filter(_consumption, value.is_not_null())
              .with_columns(local=value.rolling_median(7, center=True, min_samples=4).over(_GROUP),
                            change=(value - value.shift(1)).abs().over(_GROUP))
              .with_columns(scale=pl.max_horizontal(1.4826 * pl.col("change").median().over(_GROUP),
                                                    0.001 * value.abs().median().over(_GROUP)))
              .with_columns(z=(value - pl.col("local")) / pl.col("scale")))
    return (scored.filter(pl.col("z").abs() > config.outlier_z)
            .select(*_GROUP, check=pl.lit("outlier"), start="ts", end="ts", hours=pl.lit(1),
                    detail=flag_detail("value {} is {} typical hourly changes from its neighbours' median {}",
                                       "value", pl.col("z").round(1), "local")))


def impossible(frame: pl.DataFrame) -> pl.DataFrame:
    return (frame.filter(_consumption, pl.col("value") < 0)
            .select(*_GROUP, check=pl.lit("impossible"), start="ts", end="ts", hours=pl.lit(1),
                    detail=flag_detail("negative {}: {}", "series", "value")))


def misstamped(frame: pl.DataFrame) -> pl.DataFrame:
    """Months in which a series of :data:`MISSTAMP_REFERENCES` is stamped whole hours off its reference.

    For each calendar month and each lag L of :data:`MISSTAMP_LAGS`, the series' hour-to-hour changes are
    compared with the reference's L hours later by rank correlation (changes, so the shared daily cycle
    does not blur the peak; ranks, so one spike cannot move it). A month whose best lag is not 0, and
    beats 0 by :data:`MISSTAMP_MARGIN`, is flagged; consecutive months with one lag make one flag.
    L = +1: the value stamped hour t belongs to hour t + 1, so the series is stamped an hour early.
    """
    flags = []
    for series, reference in MISSTAMP_REFERENCES.items():
        pair = frame.filter(pl.col("series").is_in([series, reference]), pl.col("value").is_not_null())
        for (dataset, region), rows in pair.group_by("dataset", "region", maintain_order=True):
            if rows["series"].n_unique() < 2:
                continue
            wide = rows.pivot(on="series", index="ts", values="value", aggregate_function="mean").sort("ts")
            hours = pl.datetime_range(wide["ts"][0], wide["ts"][-1], "1h", time_zone="UTC", eager=True)
            grid = pl.DataFrame({"ts": hours}).join(wide, on="ts", how="left")
            months = _judged_months(grid["ts"], grid[series].fill_null(np.nan).to_numpy(),
                                    grid[reference].fill_null(np.nan).to_numpy())
            flags += [_misstamp_flag(str(dataset), str(region), series, reference, run) for run in _runs(months)]
    return pl.concat(flags) if flags else pl.DataFrame(schema=FLAG_SCHEMA)


@dataclass(frozen=True)
class _Month:
    lag: int
    score: float
    """Rank correlation at ``lag``..."""
    as_stamped: float
    """...and at lag 0."""
    first: datetime
    last: datetime


def _judged_months(ts: pl.Series, values: np.ndarray, reference: np.ndarray) -> list[_Month]:
    changes, target = np.diff(values), np.diff(reference)  # change i: from hour i to hour i + 1
    month = ts.dt.truncate("1mo").to_physical().to_numpy()
    judged = []
    for label in np.unique(month):
        hours = np.flatnonzero(month == label)
        scores = {lag: _rank_correlation(changes, target, hours, lag) for lag in MISSTAMP_LAGS}
        if np.isnan(scores[0]):
            continue
        best = max(scores, key=lambda lag: -np.inf if np.isnan(scores[lag]) else scores[lag])
        if scores[best] - scores[0] < MISSTAMP_MARGIN:
            best = 0
        judged.append(_Month(best, scores[best], scores[0], ts[int(hours[0])], ts[int(hours[-1])]))
    return judged


def _rank_correlation(changes: np.ndarray, target: np.ndarray, hours: np.ndarray, lag: int) -> float:
    """Rank correlation of ``changes`` at ``hours`` with ``target`` ``lag`` hours later (NaN: too few pairs)."""
    hours = hours[(hours < len(changes)) & (hours + lag >= 0) & (hours + lag < len(target))]
    a, b = changes[hours], target[hours + lag]
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < MISSTAMP_MIN_HOURS:
        return np.nan
    n = int(both.sum())
    ranks_a, ranks_b = a[both].argsort().argsort(), b[both].argsort().argsort()  # each a permutation of 0..n-1
    mean, spread = (n - 1) / 2, n * (n * n - 1) / 12  # so their mean and sum of squared deviations are known
    return float((ranks_a @ ranks_b - n * mean * mean) / spread)


def _runs(months: list[_Month]) -> list[list[_Month]]:
    """Consecutive judged months with one non-zero lag."""
    runs: list[list[_Month]] = [[]]
    for month in months:
        if month.lag == 0:
            runs.append([])
        elif runs[-1] and runs[-1][-1].lag == month.lag:
            runs[-1].append(month)
        else:
            runs.append([month])
    return [run for run in runs if run]


def _misstamp_flag(dataset: str, region: str, series: str, reference: str, run: list[_Month]) -> pl.DataFrame:
    lag, first, last = run[0].lag, run[0].first, run[-1].last
    best, stamped = [m.score for m in run], [m.as_stamped for m in run]
    detail = (f"stamped {abs(lag)} h {'early' if lag > 0 else 'late'}: its hourly changes match {reference}'s "
              f"{abs(lag)} h {'later' if lag > 0 else 'earlier'} (lag {lag:+d}) in {len(run)} month(s), "
              f"{first:%Y-%m} to {last:%Y-%m}; rank correlation {min(best):.2f}-{max(best):.2f} at that lag, "
              f"{min(stamped):.2f}-{max(stamped):.2f} as stamped")
    return pl.DataFrame({"check": ["misstamp"], "dataset": [dataset], "region": [region], "series": [series],
                         "start": [first], "end": [last], "hours": [int((last - first).total_seconds() // 3600) + 1],
                         "detail": [detail]}, schema=FLAG_SCHEMA)


def _run(contributed: QualityCheck, frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    flags = contributed.run(frames)
    missing = [column for column in FLAG_SCHEMA if column not in flags.columns]
    if missing:
        raise PluginError(f"quality check {contributed.name!r} returned flags without {missing}; a check "
                          f"returns the columns {list(FLAG_SCHEMA)} (fix or disable its plugin)")
    return flags


def summary(flags: pl.DataFrame) -> pl.DataFrame:
    """One row per check and series: how many flags and flagged hours, first and last."""
    return (flags.group_by("check", "dataset", "region", "series")
            .agg(flags=pl.len(), hours=pl.col("hours").sum(), first=pl.col("start").min(), last=pl.col("end").max())
            .sort("check", "dataset", "region", "series"))
