"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

home_option = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), envvar="ENERGY_HOME", default="data",
    show_default=True, show_envvar=True, help="Where raw responses, the store and the feature store live.",
)


def echo_table(frame: pl.DataFrame, *, rows: int = -1, shape: bool = False) -> None:
    """Print a frame as a table, wide enough for long dataset and region names."""
    with pl.Config(tbl_rows=rows, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=not shape,
                   tbl_hide_column_data_types=not shape):
        click.echo(frame)
