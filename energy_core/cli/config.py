"""``energy config show``: the effective settings, secrets masked."""

from __future__ import annotations

import json

import click

from energy_core.cli import user_config
from energy_core.cli.settings import effective


@click.group("config")
def config_group() -> None:
    """Inspect the settings from energy.toml, flags' defaults and the environment."""


@config_group.command("show")
@click.pass_context
def show_command(ctx: click.Context) -> None:
    """Print every command's effective settings (file over defaults) and the environment, secrets masked."""
    click.echo(json.dumps(effective(user_config(ctx), ctx), indent=2, default=str))
