"""Point in time: the values each hour of a window had as they were known at the window's issue time.

A build holds the latest values. The lake keeps every value a revision replaced, with when it was known
(:mod:`energy_core.storage.revisions`); :class:`Vintages` holds those of one entity on its build's grid and
patches a window with the ones its issue time knew. Where nothing of an hour was known at the issue time
(history backfilled later: knowledge time is when energy received a value), the window keeps the first
value ever known, so a point-in-time window never sees a revision made after its issue time.

Exact where each feature of a build is one stored series (every built-in entity); a feature averaged
over several datasets keeps its latest value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from energy_core.features.entities import Entity
from energy_core.features.fusion import selected
from energy_core.storage.lake import Lake
from energy_core.storage.revisions import SUPERSEDED_AT
from energy_core.storage.schema import KEY

_EARLIEST = np.datetime64("0001-01-01T00:00:00", "us")


@dataclass(frozen=True)
class Vintages:
    """Replaced values of one build, sorted by hour: each held ``value`` while ``known_from <= t < known_until``."""

    row: np.ndarray
    """(n,) int64: the hour's row in the build."""
    col: np.ndarray
    """(n,) int64: the feature's column in the build."""
    value: np.ndarray
    """(n,) float32, NaN where the revision held no value."""
    known_from: np.ndarray
    """(n,) datetime64[us] UTC; the earliest time for a first value (it stands for everything before)."""
    known_until: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    def patch(self, values: np.ndarray, mask: np.ndarray, start: int, issue: np.datetime64) -> None:
        """Set, in place, the rows ``start, start + 1, ...`` of a copy of a build's values and mask to what was
        known at ``issue``."""
        lo, hi = np.searchsorted(self.row, [start, start + len(values)])
        if lo == hi:
            return
        known = (self.known_from[lo:hi] <= issue) & (issue < self.known_until[lo:hi])
        rows, cols, held = self.row[lo:hi][known] - start, self.col[lo:hi][known], self.value[lo:hi][known]
        values[rows, cols] = held
        mask[rows, cols] = ~np.isnan(held)


def vintages(lake: Lake, entity: Entity, features: list[str], ts: np.ndarray,
             masked: pl.DataFrame | None = None) -> Vintages:
    """The replaced values of ``entity``'s stored series, on the grid of a build (``features``, hours ``ts``)."""
    history = lake.revisions()
    if masked is not None and masked.height:
        history = history.join(masked.lazy(), on=list(KEY), how="anti")
    history = history.with_columns(first=pl.col("retrieved_at") == pl.col("retrieved_at").min().over(KEY))
    rows = selected(history, entity, lake.datasets(), ("retrieved_at", SUPERSEDED_AT, "first", "dataset", "series"))
    one_series = (rows.group_by("ts", "feature").agg(pl.struct("dataset", "series").n_unique().alias("series"))
                  .filter(pl.col("series") == 1).select("ts", "feature"))
    stale = rows.filter(pl.col(SUPERSEDED_AT).is_not_null()).join(one_series, on=["ts", "feature"]).collect()
    column = {name: j for j, name in enumerate(features)}
    first = ts[0] if len(ts) else _EARLIEST
    hours = (stale["ts"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]") - first) \
        // np.timedelta64(1, "h")
    cols = stale["feature"].replace_strict(column, default=-1, return_dtype=pl.Int64).to_numpy()
    keep = (cols >= 0) & (hours >= 0) & (hours < len(ts))
    known_from = stale["retrieved_at"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    known_from = np.where(stale["first"].to_numpy(), _EARLIEST, known_from)
    until = stale[SUPERSEDED_AT].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    order = np.argsort(hours[keep], kind="stable")
    return Vintages(hours[keep][order].astype(np.int64), cols[keep][order],
                    stale["value"].fill_null(np.nan).to_numpy().astype(np.float32)[keep][order],
                    known_from[keep][order], until[keep][order])
