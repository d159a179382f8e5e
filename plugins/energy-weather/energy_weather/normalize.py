"""Weather rows -> canonical observations: per point, and weighted per balancing authority.

Variables that describe the preceding hour (precipitation, radiation) are stored one hour before
their stamp, at the start of the hour they describe; instantaneous ones stay at their stamp.
A BA's value for an hour is the weighted mean of its points, and missing when any point is.
A row's ``retrieved_at`` is its ``issued`` time when the source gives one (a past forecast, known a
day before its hour), else when the batch was fetched.
"""

from __future__ import annotations

import polars as pl

from energy_core.api import Normalizer, RawBatch
from energy_weather.variables import PRECEDING_HOUR


class WeatherNormalizer(Normalizer):
    name = "weather"

    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        rows = batch.rows.with_columns(
            ts=pl.when(pl.col("variable").is_in(list(PRECEDING_HOUR)))
            .then(pl.col("stamp") - pl.duration(hours=1))
            .otherwise(pl.col("stamp"))
        )
        if "issued" not in rows.columns:  # a batch cached before past forecasts were fetched
            rows = rows.with_columns(issued=pl.lit(None, pl.Datetime("us", "UTC")))
        first = batch.window.start
        if batch.window.dataset == "weather.forecast" and rows["issued"].is_null().all():
            # a live forecast is only a forecast for hours still ahead
            first = max(first, batch.retrieved_at.replace(minute=0, second=0, microsecond=0))
        rows = rows.filter(pl.col("ts") >= first, pl.col("ts") < batch.window.end)
        per_point = rows.select("ts", region="point", series="variable", value="value", unit="unit", issued="issued")
        regional = (
            rows.group_by("ba", "variable", "ts")
            .agg(
                weighted=(pl.col("value") * pl.col("weight")).sum(),
                weight=pl.col("weight").filter(pl.col("value").is_not_null()).sum(),
                missing=pl.col("value").null_count(),
                unit=pl.col("unit").first(),
                issued=pl.col("issued").max(),
            )
            .select("ts", region="ba", series="variable",
                    value=pl.when(pl.col("missing") == 0).then(pl.col("weighted") / pl.col("weight")),
                    unit="unit", issued="issued")
        )
        fetched = pl.lit(batch.retrieved_at, dtype=pl.Datetime("us", "UTC"))
        return pl.concat([per_point, regional]).select(
            "ts", source=pl.lit("weather"), dataset=pl.lit(batch.window.dataset), region="region", series="series",
            value="value", unit="unit", retrieved_at=pl.coalesce(pl.col("issued").cast(pl.Datetime("us", "UTC")),
                                                                 fetched),
        )
