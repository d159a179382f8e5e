"""Screening the stored demand series and keeping what it finds.

Every hour the screening flags becomes a quality flag (check ``screen``, the category as its detail).
Every hour it flags or finds missing gets an imputed value in the processed store, in its own series
``<series>.imputed.<method>`` beside the reported one, which is never changed; an hour imputed by an
earlier screening that is now OKAY gets null there. The feature build reads that series as a feature of
its own and masks the reported value at its hours (:mod:`energy_core.features.fusion`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from energy_core.home import Home
from energy_core.ops.screening.imputation import METHOD, impute
from energy_core.ops.screening.rules import FLAGS, PAPER, Category, ScreeningConfig, screen
from energy_core.storage.flags import FLAG_SCHEMA
from energy_core.storage.lake import Lake, UpsertStats
from energy_core.storage.lock import StoreLock
from energy_core.storage.schema import COLUMNS, IMPUTED, POLARS_SCHEMA, validate_observations

SCREENED = ("demand",)
"""The series screened: the rules were made for (and checked against) EIA-930 demand."""
CHECK = "screen"
"""The name of the screening's quality flags."""
_UTC = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Screening:
    flags: pl.DataFrame
    """Quality flags (:data:`~energy_core.storage.flags.FLAG_SCHEMA`): one per run of hours of one category."""
    imputed: pl.DataFrame
    """Canonical observations of the imputed series: a value for every flagged or missing hour (of a series
    with at least one OKAY hour), null for an hour imputed before that is now OKAY."""
    counts: pl.DataFrame
    """Hours per (dataset, region, series, category)."""


def imputed_series(series: str) -> str:
    return f"{series}{IMPUTED}{METHOD}"


def screen_store(home: Home | Path, datasets: tuple[str, ...] = (), regions: tuple[str, ...] = (),
                 config: ScreeningConfig = PAPER, now: datetime | None = None) -> Screening:
    """Screen and impute every stored series of :data:`SCREENED` (optionally narrowed); ``now`` stamps the
    imputed values' ``retrieved_at`` (when they were made)."""
    store = Lake(home)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    wanted = [*SCREENED, *(imputed_series(s) for s in SCREENED)]
    flags, imputed, counts = [], [], []
    for dataset in datasets or store.datasets():
        scan = store.scan(dataset).filter(pl.col("series").is_in(wanted))
        if regions:
            scan = scan.filter(pl.col("region").is_in(regions))
        frame = scan.collect()
        for (region, series), rows in frame.filter(pl.col("series").is_in(SCREENED)).group_by(
                "region", "series", maintain_order=True):
            earlier = frame.filter(pl.col("region") == region, pl.col("series") == imputed_series(str(series)),
                                   pl.col("value").is_not_null())
            one = _screen_one(rows, earlier, config, now)
            flags.append(one.flags)
            imputed.append(one.imputed)
            counts.append(one.counts)
    if not flags:
        return Screening(pl.DataFrame(schema=FLAG_SCHEMA), pl.DataFrame(schema=POLARS_SCHEMA),
                         pl.DataFrame(schema={"dataset": pl.String, "region": pl.String, "series": pl.String,
                                              "category": pl.String, "hours": pl.Int64}))
    return Screening(pl.concat(flags), pl.concat(imputed), pl.concat(counts))


def save_imputed(home: Home | Path, screening: Screening) -> UpsertStats:
    """Write the imputed series into the processed store (under its lock); unchanged values are not rewritten."""
    home = Home.of(home)
    rows = validate_observations(screening.imputed, producer="screening")
    with StoreLock(home.processed_lock):
        return Lake(home).upsert(rows)


def _screen_one(rows: pl.DataFrame, earlier: pl.DataFrame, config: ScreeningConfig, now: datetime) -> Screening:
    """One stored series: ``rows`` as reported, ``earlier`` the non-null values of its imputed series."""
    last = rows.sort("retrieved_at").row(-1, named=True)
    dataset, region, series = last["dataset"], last["region"], last["series"]
    hourly = rows.group_by(ts=pl.col("ts").dt.truncate("1h")).agg(pl.col("value").mean()).sort("ts")
    hours = pl.datetime_range(hourly["ts"][0], hourly["ts"][-1], "1h", time_zone="UTC", eager=True)
    grid = pl.DataFrame({"ts": hours.cast(_UTC)}).join(hourly, on="ts", how="left")
    values = grid["value"].fill_null(np.nan).to_numpy().astype(np.float64)
    categories = screen(values, config)
    okay = categories == Category.OKAY
    estimate = impute(values, okay)
    grid = grid.with_columns(category=pl.Series(categories), estimate=pl.Series(estimate).fill_nan(None))
    made = grid.filter(~pl.Series(okay), pl.col("estimate").is_not_null()).select("ts", value="estimate")
    cleared = earlier.join(made, on="ts", how="anti").select("ts", value=pl.lit(None, pl.Float64))
    key = {"source": last["source"], "dataset": dataset, "region": region, "unit": last["unit"]}
    imputed = (pl.concat([made, cleared]).sort("ts")
               .with_columns(series=pl.lit(imputed_series(series)), retrieved_at=pl.lit(now, _UTC),
                             **{name: pl.lit(value) for name, value in key.items()})
               .select(COLUMNS).cast(POLARS_SCHEMA))
    counts = (grid.group_by("category").len("hours").sort("category")
              .select(dataset=pl.lit(dataset), region=pl.lit(region), series=pl.lit(series),
                      category=pl.col("category").replace_strict({int(c): c.name for c in Category},
                                                                 return_dtype=pl.String),
                      hours=pl.col("hours").cast(pl.Int64)))
    return Screening(_flags(grid, dataset, region, series), imputed, counts)


def _flags(grid: pl.DataFrame, dataset: str, region: str, series: str) -> pl.DataFrame:
    """One flag per run of consecutive hours of one flagged category."""
    names = {int(c): c.name for c in FLAGS}
    return (grid.with_columns(run=(pl.col("category") != pl.col("category").shift(1)).fill_null(True).cum_sum())
            .filter(pl.col("category").is_in(list(names)))
            .group_by("run", "category").agg(start=pl.col("ts").min(), end=pl.col("ts").max(), hours=pl.len())
            .sort("start")
            .select(check=pl.lit(CHECK), dataset=pl.lit(dataset), region=pl.lit(region), series=pl.lit(series),
                    start="start", end="end", hours=pl.col("hours").cast(pl.Int64),
                    detail=pl.col("category").replace_strict(names, return_dtype=pl.String))
            .cast(FLAG_SCHEMA))
