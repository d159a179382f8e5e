"""EIA rows -> canonical observations.

EIA's ``period`` (frequency=hourly) is the UTC hour *ending* the interval, so the canonical interval
start is ``period - 1 hour``: ``2023-01-01T01`` covers 00:00-01:00 UTC and is stored at ``ts`` 00:00.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from energy_core.api import Normalizer, PayloadValidationError, RawBatch
from energy_eia.codes import ROUTES, UNIT, Route


class EiaNormalizer(Normalizer):
    name = "eia"

    def normalize(self, batch: RawBatch) -> pl.DataFrame:
        route = ROUTES[batch.window.dataset]
        series = pl.col("code").replace_strict(
            route.series, default=pl.lit(route.series_prefix) + pl.col("code").str.to_lowercase(),
            return_dtype=pl.String,
        )
        return batch.rows.select(
            ts=_interval_start(batch.rows["period"], route),
            source=pl.lit("eia"),
            dataset=pl.lit(route.dataset),
            region=pl.col("respondent"),
            series=series,
            value=pl.col("value"),
            unit=pl.lit(UNIT),
            retrieved_at=pl.lit(batch.retrieved_at, dtype=pl.Datetime("us", "UTC")),
        )


def _interval_start(period: pl.Series, route: Route) -> pl.Series:
    """``YYYY-MM-DDTHH`` hour-ending UTC text -> interval start; any other form is rejected, never guessed."""
    ending = (period + ":00").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M", strict=False)
    bad = ending.is_null()
    if bad.any():
        raise PayloadValidationError(
            f"eia: {route.dataset} has {bad.sum()} period(s) not in the hourly UTC form YYYY-MM-DDTHH, "
            f"e.g. {period[bad.arg_true()[0]]!r}; other frequencies are not supported", source="eia")
    return ending - timedelta(hours=1)
