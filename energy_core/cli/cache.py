"""``energy cache``: look after the raw response cache."""

from __future__ import annotations

from datetime import timedelta

import click

from energy_core.cli.options import home_option
from energy_core.home import Home
from energy_core.ingest.cache import DEFAULT_RETENTION, RawCache


@click.group("cache")
def cache_group() -> None:
    """Manage the raw response cache under <home>/raw."""


@cache_group.command("prune")
@home_option
@click.option("--days", type=click.IntRange(min=0), default=DEFAULT_RETENTION.days, show_default=True,
              help="Keep responses fetched within this many days.")
def prune_command(home: Home, days: int) -> None:
    """Delete cached responses older than the retention period."""
    cache = RawCache(home.raw, retention=timedelta(days=days))
    try:
        removed = cache.prune()
        click.echo(f"removed {removed} cached response(s) older than {days} days; {len(cache)} remain")
    finally:
        cache.close()
