"""``energy plot``: an entity's fused series as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from energy_core.cli import plugin_manager
from energy_core.cli.options import UtcDate, home_option
from energy_core.home import Home

if TYPE_CHECKING:
    from datetime import datetime


@click.command("plot")
@click.option("--entity", required=True, help="Entity (a BA, e.g. PACW).")
@click.option("--start", type=UtcDate(), help="First day (UTC). Default: the entity's first hour.")
@click.option("--end", type=UtcDate(), help="Last day, inclusive (UTC). Default: its last hour.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG to write. Default: <home>/plots/<entity>.png")
@home_option
@click.pass_context
def plot_command(ctx: click.Context, entity: str, start: tuple[datetime, bool] | None,
                 end: tuple[datetime, bool] | None, output: Path | None, home: Home) -> None:
    """Draw the target (demand) and its forecasts, then the plugins' panels (generation by fuel stacked,
    weather) from the feature store, gaps left visible."""
    from datetime import timedelta

    import polars as pl

    from energy_core.features import FeatureStore
    from energy_core.ops.plot import plot_entity
    from energy_core.plugin.registry import plot_panels

    store = FeatureStore(home)
    frame = store.frame(entity)
    if start:
        frame = frame.filter(pl.col("ts") >= start[0])
    if end:
        frame = frame.filter(pl.col("ts") < (end[0] if end[1] else end[0] + timedelta(days=1)))
    path = plot_entity(frame, entity, store.latest(entity).target, output or home.plot(entity),
                       plot_panels(plugin_manager(ctx)))
    click.echo(f"plot: {path} ({frame.height} hours)")
