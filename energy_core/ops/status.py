"""What the store holds (covered range and missing hours per dataset and region), which run last
fetched it, and where a stored value came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.ingest.catalog import Catalog
from energy_core.storage.lake import Lake


@dataclass(frozen=True)
class Status:
    coverage: pl.DataFrame
    """Per dataset and region: first and last hour, hours held, hours missing in between, and the
    last run that fetched it with that window's outcome."""
    runs: list[dict]
    """Newest first."""
    pending: list[dict]


def status(home: Home | Path, datasets: tuple[str, ...] = (), regions: tuple[str, ...] = ()) -> Status:
    home = Home.of(home)
    scan = Lake(home).scan()
    if datasets:
        scan = scan.filter(pl.col("dataset").is_in(datasets))
    if regions:
        scan = scan.filter(pl.col("region").is_in(regions))
    frame = (scan.group_by("dataset", "region")
             .agg(first=pl.col("ts").min(), last=pl.col("ts").max(), hours=pl.col("ts").n_unique(),
                  series=pl.col("series").n_unique(), rows=pl.len())
             .with_columns(missing_hours=((pl.col("last") - pl.col("first")).dt.total_hours() + 1 - pl.col("hours")))
             .sort("dataset", "region").collect())
    last, runs, pending = {}, [], []
    if home.catalog.exists():
        catalog = Catalog(home)
        try:
            last, runs, pending = catalog.last_outcomes(), [vars(r) for r in catalog.runs()], catalog.pending_reasons()
        finally:
            catalog.close()
    outcomes = [last.get((d, r)) or last.get((d, "*")) or (None, None)
                for d, r in frame.select("dataset", "region").iter_rows()]
    frame = frame.with_columns(last_run=pl.Series([run for run, _ in outcomes], dtype=pl.String),
                               last_outcome=pl.Series([outcome for _, outcome in outcomes], dtype=pl.String))
    return Status(frame, runs, pending)


def trace(home: Home | Path, *, dataset: str, region: str, series: str, ts: datetime) -> tuple[dict, list[dict]]:
    """The stored row for a key, and the window(s), runs and requests that wrote it."""
    home = Home.of(home)
    row = (Lake(home).scan(dataset)
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
