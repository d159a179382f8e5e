"""``energy query``: SQL (DuckDB) over the processed store and the feature store."""

from __future__ import annotations

import json
from datetime import datetime

import click

from energy_core.cli.options import UtcDate, echo_table, home_option
from energy_core.home import Home


@click.command("query")
@click.argument("sql")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--as-of", type=UtcDate(), help="Query the data as it was known at this time (UTC). Default: the latest.")
@home_option
def query_command(sql: str, output: str, as_of: tuple[datetime, bool] | None, home: Home) -> None:
    """Run SQL over the stores, e.g. energy query "SELECT region, avg(value) FROM eia_region GROUP BY 1".

    Views: observations; one per dataset (eia_region, eia_fuel, caiso_load, weather_hourly, ...); revisions
    (every value each key has had, known from retrieved_at until superseded_at); features_<entity> (one column
    per feature); quality_flags.
    """
    from energy_core.ops.migrate import require_migrated
    from energy_core.ops.query import query

    require_migrated(home)
    result = query(home, sql, as_of=as_of[0] if as_of else None)
    if output == "csv":
        click.echo(result.write_csv(), nl=False)
    elif output == "json":
        click.echo(json.dumps(result.to_dicts(), indent=2, default=str))
    else:
        echo_table(result, rows=100, shape=True)
