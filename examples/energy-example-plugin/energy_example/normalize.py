"""Canonical observations from the example API's rows: one series for the observed intensity and
one for the forecast, at the UTC start of each hour."""

from __future__ import annotations

import polars as pl

from energy_core.api import Normalizer, PayloadValidationError, RawBatch
from energy_example.api import UNIT


class ExampleNormalizer(Normalizer):
    name = "example"

    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        rows = batch.rows
        not_hourly = rows.filter((pl.col("end") - pl.col("start")) != pl.duration(hours=1))
        if not_hourly.height:
            raise PayloadValidationError(f"example: {not_hourly.height} interval(s) are not one hour long, e.g. "
                                         f"{not_hourly['start'][0]}", source="example")
        odd_units = set(rows["unit"]) - {UNIT}
        if odd_units:
            raise PayloadValidationError(f"example: unit {odd_units} where {UNIT} was expected", source="example")
        long = rows.unpivot(index=["start", "zone"], on=["actual", "forecast"], variable_name="kind")
        return long.select(
            ts="start", source=pl.lit("example"), dataset=pl.lit("example.intensity"), region="zone",
            series=pl.when(pl.col("kind") == "actual").then(pl.lit("carbon_intensity"))
            .otherwise(pl.lit("carbon_intensity_forecast")),
            value="value", unit=pl.lit(UNIT), retrieved_at=pl.lit(batch.retrieved_at).dt.cast_time_unit("us"),
        )
