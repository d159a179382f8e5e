"""What the store holds (covered range and missing hours per dataset and region), which run last
fetched it, and where a stored value came from."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from energy_core.catalog import Catalog
from energy_core.errors import ConfigError
from energy_core.store import ParquetStore


def coverage(home: Path, datasets: tuple[str, ...] = (), regions: tuple[str, ...] = ()) -> pl.DataFrame:
    """Per dataset and region: first and last hour, hours held, hours missing in between, and the
    last run that fetched it with that window's outcome."""
    scan = ParquetStore(home / "processed").scan()
    if datasets:
        scan = scan.filter(pl.col("dataset").is_in(datasets))
    if regions:
        scan = scan.filter(pl.col("region").is_in(regions))
    frame = (scan.group_by("dataset", "region")
             .agg(first=pl.col("ts").min(), last=pl.col("ts").max(), hours=pl.col("ts").n_unique(),
                  series=pl.col("series").n_unique(), rows=pl.len())
             .with_columns(missing_hours=((pl.col("last") - pl.col("first")).dt.total_hours() + 1 - pl.col("hours")))
             .sort("dataset", "region").collect())
    last = _last_runs(home)
    return frame.with_columns(
        last_run=pl.Series([last.get((d, r), last.get((d, "*"), {})).get("run_id") for d, r in
                            frame.select("dataset", "region").iter_rows()], dtype=pl.String),
        last_outcome=pl.Series([last.get((d, r), last.get((d, "*"), {})).get("status") for d, r in
                                frame.select("dataset", "region").iter_rows()], dtype=pl.String),
    )


def _last_runs(home: Path) -> dict[tuple[str, str], dict]:
    """(dataset, region) -> the newest window that asked for it; region ``*`` for all-region windows."""
    if not (home / "catalog.sqlite").exists():
        return {}
    catalog = Catalog(home)
    try:
        latest: dict[tuple[str, str], dict] = {}
        for window in catalog.windows():  # oldest first: later ones replace earlier ones
            for region in window["regions"] or ["*"]:
                latest[(window["dataset"], region)] = window
        return latest
    finally:
        catalog.close()


def trace(home: Path, *, dataset: str, region: str, series: str, ts: datetime) -> tuple[dict, list[dict]]:
    """The stored row for a key, and the window(s), runs and requests that wrote it."""
    row = (ParquetStore(home / "processed").scan(dataset)
           .filter(pl.col("region") == region, pl.col("series") == series, pl.col("ts") == ts).collect())
    if row.height == 0:
        raise ConfigError(f"no stored row for {dataset} {region} {series} at {ts:%Y-%m-%dT%H:%M}Z; "
                          "`energy status` shows what is stored")
    stored = row.row(0, named=True)
    catalog = Catalog(home)
    try:
        return stored, catalog.trace(source=stored["source"], dataset=dataset, region=region, ts=ts,
                                     retrieved_at=stored["retrieved_at"])
    finally:
        catalog.close()
