"""EIA rows -> canonical observations.

EIA's ``period`` (frequency=hourly, read by :mod:`energy_eia.parse` as a UTC hour) is the hour *ending* the
interval, so the canonical interval start is ``period - 1 hour``: ``2023-01-01T01`` covers 00:00-01:00 UTC
and is stored at ``ts`` 00:00.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from energy_core.api import Normalizer, RawBatch
from energy_eia.codes import ROUTES, UNIT


class EiaNormalizer(Normalizer):
    name = "eia"

    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        route = ROUTES[batch.window.dataset]
        codes = batch.rows["code"].unique().to_list()  # a handful: name each once rather than row by row
        series = {code: route.series.get(code) or route.series_for_unknown(code) for code in codes}
        return batch.rows.select(
            ts=_INTERVAL_START,
            source=pl.lit("eia"),
            dataset=pl.lit(route.dataset),
            region=pl.col("respondent"),
            series=pl.col("code").replace_strict(series, return_dtype=pl.String),
            value=pl.col("value"),
            unit=pl.lit(UNIT),
            retrieved_at=pl.lit(batch.retrieved_at, dtype=pl.Datetime("us", "UTC")),
        )


_INTERVAL_START = pl.col("period") - timedelta(hours=1)
