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
from energy_core.storage.journal import Journal
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
    if home.lake is not None:
        last, runs = _with_the_team(Journal(home), last, runs)
    outcomes = [last.get((d, r)) or last.get((d, "*")) or (None, None)
                for d, r in frame.select("dataset", "region").iter_rows()]
    frame = frame.with_columns(last_run=pl.Series([run for run, _ in outcomes], dtype=pl.String),
                               last_outcome=pl.Series([outcome for _, outcome in outcomes], dtype=pl.String))
    return Status(frame, runs, pending)


def _with_the_team(journal: Journal, last: dict[tuple[str, str], tuple[str, str]],
                   runs: list[dict]) -> tuple[dict[tuple[str, str], tuple[str, str]], list[dict]]:
    """Add the runs and window outcomes other machines journalled in the shared lake to this machine's own."""
    mine = {run["run_id"] for run in runs}
    theirs = [run for run in journal.runs() if run["run_id"] not in mine]
    for run in theirs:
        run["command"] = f"{run.pop('machine')}: {run['command']}"
    runs = sorted(runs + theirs, key=lambda run: run["started_at"], reverse=True)
    ended = {run["run_id"]: run["finished_at"] or run["started_at"] for run in runs}
    latest = dict(last)
    for window in journal.windows():  # oldest first; a window of this machine's is in ``last`` already
        if window["run_id"] in mine:
            continue
        for region in window["regions"] or ["*"]:
            known = latest.get((window["dataset"], region))
            if known is None or ended.get(known[0], "") <= (window["finished_at"] or ""):
                latest[(window["dataset"], region)] = (window["run_id"], window["status"])
    return latest, runs


def history(home: Home | Path, *, dataset: str, region: str, series: str, ts: datetime) -> list[dict]:
    """Every value a key has had, oldest first: each with when it was known (``retrieved_at`` until
    ``superseded_at``, null for the latest) and the window(s), runs and requests that wrote it."""
    home = Home.of(home)
    rows = (Lake(home).revisions(dataset)
            .filter(pl.col("region") == region, pl.col("series") == series, pl.col("ts") == ts)
            .sort("retrieved_at").collect())
    if rows.height == 0:
        raise ConfigError(f"no stored row for {dataset} {region} {series} at {ts:%Y-%m-%dT%H:%M}Z; "
                          "`energy status` shows what is stored")
    revisions = rows.to_dicts()
    catalog = Catalog(home) if home.catalog.exists() else None
    try:
        for revision in revisions:
            revision["written_by"] = [] if catalog is None else catalog.trace(
                source=revision["source"], dataset=dataset, region=region, ts=ts,
                retrieved_at=revision["retrieved_at"])
    finally:
        if catalog is not None:
            catalog.close()
    return revisions
