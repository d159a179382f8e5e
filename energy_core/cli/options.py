"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click

home_option = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), envvar="ENERGY_HOME", default="data",
    show_default=True, show_envvar=True, help="Where raw responses, the store and the feature store live.",
)
