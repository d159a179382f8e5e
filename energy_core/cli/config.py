"""``energy config show``: the effective settings, secrets masked."""

from __future__ import annotations

import json

import click

from energy_core.cli import plugin_manager, user_config
from energy_core.cli.settings import effective
from energy_core.plugin.registry import declared_settings


@click.group("config")
def config_group() -> None:
    """Inspect the settings from energy.toml, flags' defaults and the environment."""


@config_group.command("show")
@click.pass_context
def show_command(ctx: click.Context) -> None:
    """Print every command's effective settings (file over defaults) and the environment (every variable
    a plugin reads, set or not), secrets masked."""
    shown = effective(user_config(ctx), ctx, declared_settings(plugin_manager(ctx)))
    click.echo(json.dumps(shown, indent=2, default=str))
