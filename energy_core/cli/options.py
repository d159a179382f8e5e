"""Options and parameter types shared by several commands.

Command modules import only click at the top; each command imports the libraries it uses when it
runs, so ``energy --help`` and the light commands start without polars, LanceDB or MLX.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from energy_core.home import Home
from energy_core.plugin.windows import parse_utc

if TYPE_CHECKING:
    import polars as pl

def _home(ctx: click.Context, param: click.Parameter, value: str) -> Home:
    return Home.of(value)


home_option = click.option(
    "--home", type=str, envvar="ENERGY_HOME", default="data", callback=_home, show_default=True, show_envvar=True,
    help="Where raw responses, the store and the feature store live: a folder, or a lake shared by a team "
         "(s3://bucket/prefix; this machine's part then lives in ENERGY_LOCAL_HOME).",
)


relative_loss_option = click.option(
    "--relative-loss", is_flag=True,
    help="Train on each hour's error as a share of the actual value, as MAPE judges it, so low-demand hours count "
         "as much as peaks (for a target that stays positive, such as demand).",
)


class UtcDate(click.ParamType):
    name = "DATE"

    def convert(self, value: str | tuple[datetime, bool], param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[datetime, bool]:
        """Return the UTC instant and whether the text named a time of day."""
        if isinstance(value, tuple):
            return value
        try:
            return parse_utc(value), "T" in value or " " in value
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD) or timestamp (YYYY-MM-DDTHH:MM)", param, ctx)


def echo_table(frame: pl.DataFrame, *, rows: int = -1, shape: bool = False) -> None:
    """Print a frame as a table, wide enough for long dataset and region names."""
    import polars as pl

    with pl.Config(tbl_rows=rows, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=not shape,
                   tbl_hide_column_data_types=not shape):
        click.echo(frame)
