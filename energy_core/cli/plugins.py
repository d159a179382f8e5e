"""``energy plugins``: what is loaded, as JSON."""

from __future__ import annotations

import json

import click

from energy_core.cli import plugin_manager
from energy_core.plugin.registry import Registry


@click.command("plugins")
@click.pass_context
def plugins_command(ctx: click.Context) -> None:
    """Print the loaded plugins with their versions, hooks and components, as JSON."""
    pm = plugin_manager(ctx)
    registry = Registry(pm)
    rows = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        info = pm.info(plugin)
        rows.append({
            "name": name,
            "distribution": info.distribution,
            "version": info.version,
            "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or ()),
            "sources": registry.sources.by_plugin(name),
            "normalizers": registry.normalizers.by_plugin(name),
            "sinks": registry.sinks.by_plugin(name),
        })
    click.echo(json.dumps(sorted(rows, key=lambda r: r["name"]), indent=2))
