"""``energy status`` and ``energy lineage``: what is stored, what is missing, and where a value came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from energy_core.cli.options import UtcDate, echo_table, home_option
from energy_core.home import Home

if TYPE_CHECKING:
    from datetime import datetime


@click.command("status")
@click.option("--dataset", "datasets", multiple=True, help="Only this dataset (repeatable).")
@click.option("--region", "regions", multiple=True, help="Only this region (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@home_option
def status_command(datasets: tuple[str, ...], regions: tuple[str, ...], as_json: bool, home: Home) -> None:
    """Per dataset and region: the covered range, missing hours, and the last run and its outcome."""
    from energy_core.ops.migrate import require_migrated  # light: no data library

    require_migrated(home)
    if home.lake is None and not Path(home.processed).exists() and not home.catalog.exists():  # no run yet
        click.echo(json.dumps({"coverage": [], "runs": [], "pending": []}, indent=2) if as_json else _nothing(home))
        return
    import polars as pl

    from energy_core.ops.status import status

    state = status(home, tuple(datasets), tuple(regions))
    if as_json:
        click.echo(json.dumps({"coverage": state.coverage.to_dicts(), "runs": state.runs, "pending": state.pending},
                              indent=2, default=str))
        return
    if state.coverage.height == 0:
        click.echo(_nothing(home))
    else:
        echo_table(state.coverage.with_columns(pl.col("first", "last").dt.strftime("%Y-%m-%dT%H")))
    for run in state.runs[:5]:
        click.echo(f"run {run['run_id']}: {run['status']}, {run['rows_stored'] or 0} rows stored: {run['command']}")
    if state.pending:
        click.echo(f"pending: {len(state.pending)} window(s) the next `energy run` of their source fetches first")


def _nothing(home: Home) -> str:
    return f"nothing stored under {home}; run `energy run --source ...` first"


@click.command("lineage")
@click.option("--dataset", required=True, help="e.g. eia.region")
@click.option("--region", required=True, help="e.g. PACW")
@click.option("--series", required=True, help="e.g. demand")
@click.option("--ts", "moment", required=True, type=UtcDate(), help="The hour (UTC), e.g. 2024-01-05T03:00.")
@home_option
def lineage_command(dataset: str, region: str, series: str, moment: tuple[datetime, bool], home: Home) -> None:
    """Trace a stored value to the run, window and requests that wrote it, with every earlier value the
    key had (its revisions) and when each was known."""
    from energy_core.ops.status import history

    revisions = history(home, dataset=dataset, region=region, series=series, ts=moment[0])
    latest = {k: v for k, v in revisions[-1].items() if k not in ("superseded_at", "written_by")}
    click.echo(json.dumps({"row": latest, "written_by": revisions[-1]["written_by"], "revisions": revisions},
                          indent=2, default=str))
