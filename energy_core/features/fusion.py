"""Fusion: an entity's observations from the processed store, on one hourly UTC grid.

The grid runs from the entity's first to its last observed hour. Anything finer than an hour is
averaged into its hour. Each (source, series) becomes a feature column with a stable name
(``eia.demand``, ``caiso.load_forecast.dam``, ``weather.temperature_2m``); calendar features are
appended. A gap stays a gap: NaN with mask 0, never a zero or a carried-forward value. Hours that
``energy quality`` flagged as stuck, outlying or impossible are gaps too.

A series ``<series>.imputed.<method>`` (``energy quality --screen`` stores ``demand.imputed.profile``)
holds values imputed where ``<series>`` is missing or failed screening. It becomes a feature of its own
(``eia.demand.imputed.profile``), observed at the imputed hours only, and ``<series>`` is masked at those
hours: an imputed value never stands in the reported feature, and the target is never an imputed value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from energy_core.errors import StorageError
from energy_core.features.calendar import CALENDAR_FEATURES, calendar_features
from energy_core.features.entities import Entity
from energy_core.storage.lake import Lake
from energy_core.storage.schema import IMPUTED


@dataclass(frozen=True)
class Fused:
    """One entity on the hourly grid: ``values`` (n, F) float32 with NaN where ``mask`` (n, F) is 0."""

    entity: str
    ts: np.ndarray
    """(n,) datetime64[us], UTC, consecutive hours."""
    features: tuple[str, ...]
    values: np.ndarray
    mask: np.ndarray


def fuse(store: Lake, entity: Entity, masked: pl.DataFrame | None = None, *, as_of: datetime | None = None) -> Fused:
    """Read ``entity``'s rows from the store (as known at ``as_of``, or the latest) and lay them on its hourly grid.

    :param masked: (dataset, region, series, ts) of hours the quality checks distrust; they become gaps.
    """
    scan = store.scan(as_of=as_of)
    if masked is not None and masked.height:
        scan = scan.join(masked.lazy(), on=["dataset", "region", "series", "ts"], how="anti")
    long = selected(scan, entity, store.datasets()).group_by("ts", "feature").agg(pl.col("value").mean()).collect()
    long = _without_imputed_hours(long.filter(pl.col("value").is_not_null() & pl.col("value").is_finite()))
    if long.height == 0:
        raise StorageError(f"no stored observations for entity {entity.name!r}; run `energy run` for its "
                           f"sources first (selectors: {[(s.dataset, s.region) for s in entity.selectors]})")
    return _grid(entity, long)


def selected(scan: pl.LazyFrame, entity: Entity, datasets: list[str], keep: Sequence[str] = ()) -> pl.LazyFrame:
    """The rows of ``scan`` that ``entity``'s selectors choose, as (ts truncated to the hour, feature, value)
    and the columns ``keep``."""
    parts = []
    for selector in entity.selectors:
        chosen = [d for d in datasets if selector.matches(d)]
        if not chosen:
            continue
        parts.append(scan.filter(pl.col("dataset").is_in(chosen), pl.col("region") == selector.region).select(
            *keep,
            ts=pl.col("ts").dt.truncate("1h"),
            feature=pl.col("dataset").str.split(".").list.first() + pl.lit(".") + pl.col("series")
            + pl.lit(f"@{selector.suffix}" if selector.suffix else ""),
            value="value",
        ))
    if not parts:
        return scan.select(*keep, "ts", feature=pl.lit("", pl.String), value="value").clear()
    return pl.concat(parts)


def _without_imputed_hours(long: pl.DataFrame) -> pl.DataFrame:
    """Drop each reported feature's values at the hours its imputed feature covers (``eia.demand`` where
    ``eia.demand.imputed.profile`` has a value; a selector's ``@suffix`` stays on both)."""
    imputed = long.filter(pl.col("feature").str.contains(IMPUTED, literal=True)).select(
        "ts", feature=pl.col("feature").str.replace(re.escape(IMPUTED) + "[^@]*", ""))
    return long.join(imputed, on=["ts", "feature"], how="anti") if imputed.height else long


def _grid(entity: Entity, long: pl.DataFrame) -> Fused:
    """Scatter (ts, feature, value) rows into a dense (hours, features) array."""
    first, last = long.select(first=pl.col("ts").min(), last=pl.col("ts").max()).row(0)
    hours = pl.datetime_range(first, last, "1h", time_zone="UTC", eager=True).alias("ts")
    observed = tuple(sorted(long["feature"].unique()))
    index = {name: i for i, name in enumerate(observed)}
    rows = ((long["ts"] - first).dt.total_hours()).to_numpy()
    cols = long["feature"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
    values = np.full((len(hours), len(observed)), np.nan, dtype=np.float32)
    values[rows, cols] = long["value"].to_numpy()
    calendar = calendar_features(hours, entity.timezone, entity.states)
    values = np.concatenate([values, calendar], axis=1)
    mask = (~np.isnan(values)).astype(np.uint8)
    return Fused(entity.name, hours.dt.cast_time_unit("us").to_numpy(), observed + CALENDAR_FEATURES, values, mask)
