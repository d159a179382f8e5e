"""``energy query``: SQL (DuckDB) over the processed store and the feature store."""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl

from energy_core.cli.options import home_option


@click.command("query")
@click.argument("sql")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@home_option
def query_command(sql: str, output: str, home: Path) -> None:
    """Run SQL over the stores, e.g. energy query "SELECT region, avg(value) FROM eia_region GROUP BY 1".

    Views: observations; one per dataset (eia_region, eia_fuel, caiso_load, weather_hourly, ...);
    features_<entity> (one column per feature); quality_flags.
    """
    from energy_core.query import query  # DuckDB is imported only by this command

    result = query(home, sql)
    if output == "csv":
        click.echo(result.write_csv(), nl=False)
    elif output == "json":
        click.echo(json.dumps(result.to_dicts(), indent=2, default=str))
    else:
        with pl.Config(tbl_rows=100, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=False):
            click.echo(result)
