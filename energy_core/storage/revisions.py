"""Every revision of a value, and when it was known: the merge behind each write to the lake.

A stored row is one revision of a key (dataset, region, series, ts): its value, ``retrieved_at`` (when
it was first known) and ``superseded_at`` (when a different value was first known; null while it is
the current one). A key's revisions are the distinct values it took in order of knowledge time: a
value seen again is the same revision, known from the earliest time it was seen. So a re-run that
changes nothing writes nothing, and the stored result depends on which answers arrived, not on their
order, with one exception a compact history cannot avoid: a value that returns to an earlier one (A, then
B, then A again) whose answers arrive out of order. A re-seen value is not stored, so an older B that
arrives after the second A is taken as the latest (energy 0.2's store did the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from energy_core.storage.schema import COLUMNS, KEY, POLARS_SCHEMA, repeated_keys

SUPERSEDED_AT = "superseded_at"
STORED_SCHEMA = pl.Schema({**POLARS_SCHEMA, SUPERSEDED_AT: POLARS_SCHEMA["retrieved_at"]})
STORED_COLUMNS = (*COLUMNS, SUPERSEDED_AT)


@dataclass(frozen=True)
class Merged:
    """A partition after a merge: its rows, how many keys it gained and how many current values changed."""

    rows: pl.DataFrame
    added: int
    changed: int


def current() -> pl.Expr:
    """The rows that hold each key's latest known value."""
    return pl.col(SUPERSEDED_AT).is_null()


def known_at(moment: datetime) -> pl.Expr:
    """The rows that held each key's value as it was known at ``moment``."""
    return (pl.col("retrieved_at") <= moment) & (pl.col(SUPERSEDED_AT).is_null() | (pl.col(SUPERSEDED_AT) > moment))


def merge(old: pl.DataFrame, new: pl.DataFrame, *, keys_unique: bool = False) -> Merged | None:
    """Merge canonical rows ``new`` into the stored revisions ``old`` of one partition; None when nothing changes.

    The common cases are joins against the current rows: a new key is appended; a later, equal value is
    already known; a later, different value supersedes the current one. A value known *earlier* than the
    current one, or a key repeated in ``new``, rebuilds that key's history (rare: a replayed old answer).
    ``keys_unique`` says ``new`` holds each key once (one validated batch): no search for repeated keys.
    """
    new = new.select(COLUMNS)
    repeated = new.select(KEY).clear() if keys_unique else repeated_keys(new)
    if old.height == 0 and repeated.height == 0:  # a new month: every row is a first revision
        return Merged(_fresh(new), new.height, 0)
    known = old.filter(current()).select(*KEY, old_value="value", old_at="retrieved_at")
    joined = new.join(known, on=KEY, how="left", nulls_equal=True)
    is_new = pl.col("old_at").is_null()
    later = pl.col("retrieved_at") >= pl.col("old_at")
    differs = pl.col("value").ne_missing(pl.col("old_value"))
    rebuild = pl.concat([joined.filter(~is_new & ~later).select(KEY), repeated]).unique()
    joined = joined.join(rebuild, on=KEY, how="anti", nulls_equal=True)
    appended = joined.filter(is_new).select(COLUMNS)
    revised = joined.filter(~is_new & later & differs).select(COLUMNS)
    rows, added, changed = _supersede(old, revised), appended.height, revised.height
    if rebuild.height:
        rows, rebuilt_added, rebuilt_changed = _rebuild(rows, new.join(rebuild, on=KEY, how="semi"), rebuild)
        added, changed = added + rebuilt_added, changed + rebuilt_changed
    if added == 0 and changed == 0 and (rebuild.height == 0 or _same_rows(rows, old)):
        return None
    return Merged(pl.concat([rows, _fresh(pl.concat([appended, revised]))]), added, changed)


def _fresh(rows: pl.DataFrame) -> pl.DataFrame:
    """Canonical rows as the latest revisions of their keys."""
    return rows.with_columns(pl.lit(None, STORED_SCHEMA[SUPERSEDED_AT]).alias(SUPERSEDED_AT))


def _supersede(rows: pl.DataFrame, revised: pl.DataFrame) -> pl.DataFrame:
    """End the current revision of each key in ``revised`` at the time its new value was known."""
    if revised.height == 0:
        return rows.select(STORED_COLUMNS)
    ends = revised.select(*KEY, _ends=pl.col("retrieved_at"))
    return (rows.join(ends, on=KEY, how="left", nulls_equal=True, maintain_order="left")
            .with_columns(pl.when(current()).then(pl.col("_ends")).otherwise(pl.col(SUPERSEDED_AT))
                          .alias(SUPERSEDED_AT))
            .select(STORED_COLUMNS))


def _rebuild(rows: pl.DataFrame, incoming: pl.DataFrame, keys: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Rebuild the history of ``keys`` from their stored revisions and ``incoming``; return the rows and how
    many keys were added and how many current values changed."""
    touched = rows.join(keys, on=KEY, how="semi", nulls_equal=True)
    rebuilt = history(pl.concat([touched.select(COLUMNS), incoming]))
    before = touched.filter(current()).select(*KEY, "value", "retrieved_at")
    after = rebuilt.filter(current()).select(*KEY, "value", "retrieved_at")
    added = after.join(before, on=KEY, how="anti", nulls_equal=True).height
    changed = after.join(before, on=list(after.columns), how="anti", nulls_equal=True).height - added
    return pl.concat([rows.join(keys, on=KEY, how="anti", nulls_equal=True), rebuilt]), added, changed


def _same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Whether two partitions hold the same revisions, in any order."""
    return a.height == b.height and a.join(b, on=list(STORED_COLUMNS), how="anti", nulls_equal=True).height == 0


def history(rows: pl.DataFrame) -> pl.DataFrame:
    """The revisions of the keys in ``rows`` (every value seen, with when): in order of knowledge time, a
    value equal to the one before it is dropped, and each revision is superseded by the next. On a tie in
    knowledge time the row that came last in ``rows`` wins."""
    ordered = (rows.select(COLUMNS).with_row_index("_arrival")
               .sort([*KEY, "retrieved_at", "_arrival"])
               .unique(subset=[*KEY, "retrieved_at"], keep="last", maintain_order=True))
    first = pl.int_range(pl.len()).over(KEY) == 0
    kept = ordered.filter(first | pl.col("value").ne_missing(pl.col("value").shift(1).over(KEY)))
    return kept.with_columns(pl.col("retrieved_at").shift(-1).over(KEY).alias(SUPERSEDED_AT)).select(STORED_COLUMNS)
