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
        codes = batch.rows["code"].unique().to_list()  # a handful: name each once rather than row by row
        series = {code: route.series.get(code) or route.series_for_unknown(code) for code in codes}
        observations = batch.rows.select(
            ts=_INTERVAL_START,
            source=pl.lit("eia"),
            dataset=pl.lit(route.dataset),
            region=pl.col("respondent"),
            series=pl.col("code").replace_strict(series, return_dtype=pl.String),
            value=pl.col("value"),
            unit=pl.lit(UNIT),
            retrieved_at=pl.lit(batch.retrieved_at, dtype=pl.Datetime("us", "UTC")),
        )
        if observations["ts"].null_count():
            raise _period_error(batch.rows["period"], observations["ts"].is_null(), route)
        return observations


_INTERVAL_START = (pl.col("period") + ":00").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M",
                                                          strict=False) - timedelta(hours=1)
"""``YYYY-MM-DDTHH`` hour-ending UTC text -> interval start; null for any other form."""


def _period_error(period: pl.Series, bad: pl.Series, route: Route) -> PayloadValidationError:
    """Other forms are rejected, never guessed."""
    return PayloadValidationError(
        f"eia: {route.dataset} has {bad.sum()} period(s) not in the hourly UTC form YYYY-MM-DDTHH, "
        f"e.g. {period.filter(bad)[0]!r}; other frequencies are not supported", source="eia")
