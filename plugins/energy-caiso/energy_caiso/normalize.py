"""CAISO intervals -> canonical hourly observations.

The ``*_GMT`` instants are the truth; the output ``ts`` is the UTC start of the hour. Intervals
shorter than an hour are averaged over the hour, weighted by duration (MW averaged over an hour is
that hour's MWh; prices are averaged as prices). An hour is complete only when its intervals cover
all 60 minutes; an incomplete hour is stored with a null value, so it is marked, never filled in.
"""

from __future__ import annotations

import logging

import polars as pl

from energy_caiso.reports import OUTLOOK_DATASET, PRICE_DATASETS, SERIES, SYSTEM, region
from energy_core.api import Normalizer, PayloadValidationError, RawBatch

logger = logging.getLogger(__name__)

_KEY = ["region", "series", "ts"]


class CaisoNormalizer(Normalizer):
    name = "caiso"

    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        dataset = batch.window.dataset
        named = _named(batch.rows, dataset)
        hourly = hourly_means(named)
        if dataset == OUTLOOK_DATASET:
            hourly = _with_every_hour(hourly, batch)
        hourly = pl.concat([hourly, _derived(hourly, dataset)])
        incomplete = hourly["value"].null_count()
        if incomplete:
            logger.warning("caiso: %s %s: %d hour(s) lack intervals and are stored as missing",
                           dataset, batch.window.describe(), incomplete)
        return hourly.select(
            ts="ts", source=pl.lit("caiso"), dataset=pl.lit(dataset), region="region", series="series",
            value="value", unit=pl.lit("USD/MWh" if dataset in PRICE_DATASETS else "MWh"),
            retrieved_at=pl.lit(batch.retrieved_at, dtype=pl.Datetime("us", "UTC")),
        )


def _named(rows: pl.DataFrame, dataset: str) -> pl.DataFrame:
    mapping = SERIES[dataset]
    prefix = {"caiso.lmp": "lmp.", "caiso.fuelmix": "gen.", "caiso.schedules": "schedule."}.get(dataset, "")
    key = pl.col("item").str.to_uppercase()
    fallback = pl.lit(prefix) + pl.col("item").str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "_")
    areas = rows["area"].unique().to_list()
    regions = {area: region(dataset, area) for area in areas}
    return rows.with_columns(
        series=key.replace_strict(mapping, default=fallback, return_dtype=pl.String),
        region=pl.col("area").replace_strict(regions, return_dtype=pl.String),
    )


def hourly_means(intervals: pl.DataFrame) -> pl.DataFrame:
    """Duration-weighted hourly means of (region, series, start, end, value) intervals.

    A repeated interval counts once (its last value). An interval may not cross an hour boundary.
    """
    intervals = intervals.unique(subset=["region", "series", "start"], keep="last", maintain_order=True)
    hour = pl.col("start").dt.truncate("1h")
    crossing = intervals.filter((pl.col("end") - pl.col("start") > pl.duration(hours=1))
                                | (pl.col("end") <= pl.col("start"))
                                | ((pl.col("end") - pl.duration(microseconds=1)).dt.truncate("1h") != hour))
    if crossing.height:
        example = crossing.row(0, named=True)
        raise PayloadValidationError(
            f"caiso: {crossing.height} interval(s) are not within one hour, e.g. {example['start']}..{example['end']}",
            source="caiso")
    seconds = (pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6
    observed = pl.col("value").is_not_null()
    return (
        intervals.group_by("region", "series", ts=hour)
        .agg(
            weighted=(pl.col("value") * seconds).filter(observed).sum(),
            covered=seconds.filter(observed).sum(),
        )
        .select(
            "region", "series", "ts",
            value=pl.when(pl.col("covered") >= 3600 - 1e-6).then(pl.col("weighted") / pl.col("covered")),
        )
        .sort(_KEY)
    )


def _with_every_hour(hourly: pl.DataFrame, batch: RawBatch) -> pl.DataFrame:
    """A day file promises every hour of its day: hours with no interval at all become marked rows."""
    hours = pl.datetime_range(batch.window.start, batch.window.end, "1h", closed="left", time_zone="UTC",
                              eager=True).alias("ts")
    grid = hourly.select("region", "series").unique().join(hours.to_frame(), how="cross")
    return grid.join(hourly, on=_KEY, how="left").select("region", "series", "ts", "value").sort(_KEY)


def _derived(hourly: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """System-wide series CAISO does not publish directly, built only from complete hours."""
    if dataset == "caiso.renewables_forecast":  # the three trading hubs add up to the system
        parts = hourly.filter(pl.col("region").str.starts_with("CAISO.HUB."))
        total = parts.group_by("series", "ts").agg(value=pl.col("value").sum(), n=pl.col("value").count())
        total = total.select(region=pl.lit(SYSTEM), series="series", ts="ts",
                             value=pl.when(pl.col("n") == 3).then(pl.col("value")))
        return total.select("region", "series", "ts", "value")
    if dataset == "caiso.schedules":  # system load = generation + imports - exports
        system = hourly.filter(region=SYSTEM).pivot("series", index="ts", values="value")
        needed = {"schedule.generation", "schedule.imports", "schedule.exports"}
        if not needed <= set(system.columns):
            return hourly.clear()
        return system.select(
            region=pl.lit(SYSTEM), series=pl.lit("schedule.load"), ts="ts",
            value=pl.col("schedule.generation") + pl.col("schedule.imports") - pl.col("schedule.exports"),
        )
    return hourly.clear()
