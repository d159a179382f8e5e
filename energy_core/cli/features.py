"""``energy features``: fuse the store into the feature store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from energy_core.cli import plugin_manager, user_config
from energy_core.cli.options import UtcDate, home_option
from energy_core.home import Home

if TYPE_CHECKING:
    from datetime import datetime

    from energy_core.features import BuildInfo


@click.group("features")
def features_group() -> None:
    """Build and inspect the feature store (fused hourly data per entity)."""


@features_group.command("build")
@click.option("--entity", "entities", multiple=True, help="Entity (a BA, e.g. PACW; repeatable). Default: all.")
@click.option("--val-start", type=UtcDate(), help="First day of the validation period (default: 80% in).")
@click.option("--test-start", type=UtcDate(), help="First day of the test period (default: 90% in).")
@click.option("--uri", help="Where the feature store lives (any LanceDB URI). Default: <home>/features.")
@click.option("--as-of", type=UtcDate(), help="Build from the data as it was known at this time (UTC), every "
              "later revision unseen. Default: the latest known.")
@home_option
@click.pass_context
def build_command(ctx: click.Context, entities: tuple[str, ...], val_start: tuple[datetime, bool] | None,
                  test_start: tuple[datetime, bool] | None, uri: str | None, as_of: tuple[datetime, bool] | None,
                  home: Home) -> None:
    """Fuse stored observations onto an hourly grid per entity and store them with their statistics."""
    from energy_core.features import FeatureStore, Splits
    from energy_core.ops.migrate import require_migrated

    require_migrated(home)
    splits = Splits(val_start[0] if val_start else None, test_start[0] if test_start else None)
    store = FeatureStore(home, uri=uri, entities=user_config(ctx).entities, plugins=plugin_manager(ctx))
    store.build(list(entities) or None, splits=splits, on_built=lambda info: click.echo(describe(info)),
                as_of=as_of[0] if as_of else None)


def describe(info: BuildInfo) -> str:
    return (f"{info.entity}: build {info.build}, {info.rows} hours ({info.first_ts[:13]} .. {info.last_ts[:13]}) x "
            f"{len(info.features)} features, {info.changed_rows} rows written; validation from "
            f"{info.splits['val_start'][:10]}, test from {info.splits['test_start'][:10]}"
            + (f"; as known at {info.as_of[:16]}Z" if info.as_of else ""))
