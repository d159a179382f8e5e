"""The saved quality flags (``<home>/quality/flags.parquet``): written by ``energy quality``, read by
the feature store, which masks the hours of the checks in :data:`MASKED_CHECKS`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection
from pathlib import Path

import polars as pl

from energy_core.errors import StorageError
from energy_core.home import Home

MASKED_CHECKS = ("stuck", "outlier", "impossible")
"""Checks whose flagged hours the feature store treats as gaps (the value is there, but not to be trusted)."""
_UTC = pl.Datetime("us", "UTC")
FLAG_SCHEMA = pl.Schema({"check": pl.String(), "dataset": pl.String(), "region": pl.String(), "series": pl.String(),
                         "start": _UTC, "end": _UTC, "hours": pl.Int64(), "detail": pl.String()})
"""One row per flagged span: [start, end] are the first and last flagged hours."""


def flag_detail(template: str, *values: str | pl.Expr) -> pl.Expr:
    """A flag's ``detail`` text: ``template`` with each ``{}`` replaced by the next value (a column name or an
    expression), as ``pl.format`` would. ``pl.format`` panics in polars 2.1 in some processes on frames made
    by a join and a filter (an index assertion of its string views); ``pl.concat_str`` does not."""
    texts = template.split("{}")
    if len(texts) != len(values) + 1:
        raise ValueError(f"{template!r} has {len(texts) - 1} placeholder(s) for {len(values)} value(s)")
    parts: list[pl.Expr] = [pl.lit(texts[0])]
    for value, text in zip(values, texts[1:], strict=True):
        parts += [pl.col(value) if isinstance(value, str) else value, pl.lit(text)]
    return pl.concat_str(parts)


def save(flags: pl.DataFrame, home: Home | Path, *, datasets: Collection[str] = (), regions: Collection[str] = (),
         keep_checks: Collection[str] = ()) -> Path:
    """Save ``flags`` atomically in place of the saved flags of the ``datasets`` and ``regions`` just checked
    (every one when empty). The flags of other datasets and regions stay, and so do those of
    ``keep_checks``: the checks that were not run this time (the screening, say)."""
    path = Home.of(home).quality_flags
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        checked = ((pl.col("dataset").is_in(list(datasets)) if datasets else pl.lit(True))
                   & (pl.col("region").is_in(list(regions)) if regions else pl.lit(True))
                   & ~pl.col("check").is_in(list(keep_checks)))
        kept = pl.read_parquet(path).cast(FLAG_SCHEMA).filter(~checked.fill_null(False))
        flags = pl.concat([kept, flags.select(FLAG_SCHEMA.keys()).cast(FLAG_SCHEMA)])
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}.parquet")
    try:
        flags.write_parquet(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not save quality flags to {path}: {exc}") from exc
    return path


def masked_hours(home: Home | Path) -> pl.DataFrame:
    """(dataset, region, series, ts) of every hour the feature store must mask."""
    path = Home.of(home).quality_flags
    if not path.exists():
        return pl.DataFrame(schema={"dataset": pl.String, "region": pl.String, "series": pl.String, "ts": _UTC})
    return (pl.read_parquet(path).filter(pl.col("check").is_in(MASKED_CHECKS))
            .select("dataset", "region", "series", ts=pl.datetime_ranges("start", "end", "1h")).explode("ts").unique())
