"""Data-quality checks on the processed store.

Each check yields flags: (check, dataset, region, series, start, end, hours, detail), where
[start, end] are the first and last flagged hours. ``gap``, ``duplicate``, ``stuck``, ``outlier`` and
``impossible`` look at one series; plugins add checks that compare series of their datasets
(:class:`~energy_core.plugin.contributions.QualityCheck`, through ``register_quality_checks``).
The flags are saved under ``<home>/quality/flags.parquet``; the feature store masks the hours of
``stuck``, ``outlier`` and ``impossible`` flags (the value is there, but not to be trusted).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from energy_core.errors import PluginError
from energy_core.home import Home
from energy_core.ops.quality_config import QualityConfig
from energy_core.plugin.contributions import QualityCheck
from energy_core.storage.flags import FLAG_SCHEMA
from energy_core.storage.flags import MASKED_CHECKS as MASKED_CHECKS  # re-exported for `energy quality`
from energy_core.storage.flags import save as save  # re-exported for `energy quality`
from energy_core.storage.parquet import ParquetStore
from energy_core.storage.schema import KEY

CONSUMPTION = ("demand", "demand_forecast", "load")
"""Series (and ``load_forecast.*``) of what is consumed: never negative, and smooth from hour to hour."""
_GROUP = ["dataset", "region", "series"]
_consumption = pl.col("series").is_in(CONSUMPTION) | pl.col("series").str.starts_with("load_forecast")


def check(home: Home | Path, datasets: tuple[str, ...] = (), regions: tuple[str, ...] = (),
          config: QualityConfig = QualityConfig(), checks: Sequence[QualityCheck] = ()) -> pl.DataFrame:
    """Run every per-series check over the stored data (optionally narrowed), then each of ``checks``
    (the plugins' own, from ``registry.quality_checks``) whose datasets are all among those checked;
    return the flags."""
    store = ParquetStore(Home.of(home).processed)
    flags, frames = [], {}
    for dataset in datasets or store.datasets():
        scan = store.scan(dataset)
        if regions:
            scan = scan.filter(pl.col("region").is_in(regions))
        frames[dataset] = frame = scan.select(*KEY, "value").collect().sort("ts")  # .over(series) keeps this order
        if frame.height:
            flags += [gaps(frame), duplicates(frame), stuck(frame, config), outliers(frame, config),
                      impossible(frame)]
    for contributed in checks:
        if set(contributed.datasets) <= frames.keys():
            flags.append(_run(contributed, {name: frames[name] for name in contributed.datasets}))
    return pl.concat([f.select(FLAG_SCHEMA.keys()).cast(FLAG_SCHEMA) for f in flags]) if flags else \
        pl.DataFrame(schema=FLAG_SCHEMA)


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
                    detail=pl.format("stored {} times", "len")))


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
                    detail=pl.format("value {} repeated", "value")))


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
                    detail=pl.format("value {} is {} typical hourly changes from its neighbours' median {}",
                                     "value", pl.col("z").round(1), "local")))


def impossible(frame: pl.DataFrame) -> pl.DataFrame:
    return (frame.filter(_consumption, pl.col("value") < 0)
            .select(*_GROUP, check=pl.lit("impossible"), start="ts", end="ts", hours=pl.lit(1),
                    detail=pl.format("negative {}: {}", "series", "value")))


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
