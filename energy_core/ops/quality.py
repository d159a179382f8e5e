"""Data-quality checks on the processed store.

Each check yields flags: (check, dataset, region, series, start, end, hours, detail), where
[start, end] are the first and last flagged hours. ``gap``, ``duplicate``, ``stuck``, ``outlier`` and
``impossible`` look at one series; ``fuel_sum`` (EIA generation by fuel against total net
generation) and ``balance`` (EIA demand against net generation minus interchange) compare series.
The flags are saved under ``<home>/quality/flags.parquet``; the feature store masks the hours of
``stuck``, ``outlier`` and ``impossible`` flags (the value is there, but not to be trusted).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.storage.parquet import ParquetStore
from energy_core.storage.schema import KEY

MASKED_CHECKS = ("stuck", "outlier", "impossible")
CONSUMPTION = ("demand", "demand_forecast", "load")
"""Series (and ``load_forecast.*``) of what is consumed: never negative, and smooth from hour to hour."""
_UTC = pl.Datetime("us", "UTC")
FLAG_SCHEMA = {"check": pl.String, "dataset": pl.String, "region": pl.String, "series": pl.String,
               "start": _UTC, "end": _UTC, "hours": pl.Int64, "detail": pl.String}
_GROUP = ["dataset", "region", "series"]
_consumption = pl.col("series").is_in(CONSUMPTION) | pl.col("series").str.starts_with("load_forecast")


@dataclass(frozen=True)
class QualityConfig:
    stuck_hours: int = 24
    """A non-zero value repeated for this many consecutive hours is flagged."""
    outlier_z: float = 6.0
    """How many typical hourly changes a consumption value may sit from its neighbours' median."""
    fuel_sum_tolerance: float = 0.05
    balance_tolerance: float = 0.10


def check(home: Home | Path, datasets: tuple[str, ...] = (), regions: tuple[str, ...] = (),
          config: QualityConfig = QualityConfig()) -> pl.DataFrame:
    """Run every check over the stored data (optionally narrowed) and return the flags."""
    store = ParquetStore(Home.of(home).processed)
    flags, frames = [], {}
    for dataset in datasets or store.datasets():
        scan = store.scan(dataset)
        if regions:
            scan = scan.filter(pl.col("region").is_in(regions))
        frames[dataset] = frame = scan.select(*KEY, "value").collect().sort(*_GROUP, "ts")
        if frame.height:
            flags += [gaps(frame), duplicates(frame), stuck(frame, config), outliers(frame, config),
                      impossible(frame)]
    if "eia.region" in frames and "eia.fuel" in frames:
        flags += eia_consistency(frames["eia.region"], frames["eia.fuel"], config)
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
            .with_columns(run=(~same.fill_null(False)).cum_sum())
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


def eia_consistency(region_rows: pl.DataFrame, fuel_rows: pl.DataFrame, config: QualityConfig) -> list[pl.DataFrame]:
    """Generation by fuel should add up to net generation; demand should be close to net generation
    minus total interchange (what a BA makes, less what it sends out)."""
    region = region_rows.pivot(on="series", index=["region", "ts"], values="value")
    fuels = fuel_rows.group_by("region", "ts").agg(fuel_sum=pl.col("value").sum())
    both = region.join(fuels, on=["region", "ts"], how="inner")
    flags = []
    if "net_generation" in both.columns:
        gap = (pl.col("fuel_sum") - pl.col("net_generation")).abs()
        flags.append(both.filter(gap > pl.max_horizontal(config.fuel_sum_tolerance * pl.col("net_generation").abs(),
                                                         pl.lit(1.0)))
                     .select("region", dataset=pl.lit("eia.fuel"), series=pl.lit("net_generation"),
                             check=pl.lit("fuel_sum"), start="ts", end="ts", hours=pl.lit(1),
                             detail=pl.format("generation by fuel sums to {}, net generation is {}", "fuel_sum",
                                              "net_generation")))
    if {"demand", "net_generation", "interchange"} <= set(region.columns):
        implied = pl.col("net_generation") - pl.col("interchange")
        flags.append(region.filter((pl.col("demand") - implied).abs() > config.balance_tolerance * pl.col("demand"))
                     .select("region", dataset=pl.lit("eia.region"), series=pl.lit("demand"),
                             check=pl.lit("balance"), start="ts", end="ts", hours=pl.lit(1),
                             detail=pl.format("demand {} against net generation minus interchange {}", "demand",
                                              implied.round(1))))
    return flags


def summary(flags: pl.DataFrame) -> pl.DataFrame:
    """One row per check and series: how many flags and flagged hours, first and last."""
    return (flags.group_by("check", "dataset", "region", "series")
            .agg(flags=pl.len(), hours=pl.col("hours").sum(), first=pl.col("start").min(), last=pl.col("end").max())
            .sort("check", "dataset", "region", "series"))


def save(flags: pl.DataFrame, home: Home | Path) -> Path:
    """Replace the saved flags atomically (the feature store reads them at its next build)."""
    path = Home.of(home).quality_flags
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}.parquet")
    try:
        flags.write_parquet(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not save quality flags to {path}: {exc}") from exc
    return path


def masked_hours(home: Home | Path) -> pl.DataFrame:
    """(dataset, region, series, ts) of every hour the feature store must mask."""
    path = Home.of(home).quality_flags
    if not path.exists():
        return pl.DataFrame(schema={"dataset": pl.String, "region": pl.String, "series": pl.String, "ts": _UTC})
    return (pl.read_parquet(path).filter(pl.col("check").is_in(MASKED_CHECKS))
            .select(*_GROUP, ts=pl.datetime_ranges("start", "end", "1h")).explode("ts").unique())
