"""``energy quality``: gaps, duplicates, stuck values, outliers, impossible values, mis-stamped series and
the plugins' own checks (EIA consistency, say); with ``--screen``, the screening and imputation of demand
after Ruggles et al. (2020)."""

from __future__ import annotations

import json

import click

from energy_core.cli import plugin_manager
from energy_core.cli.options import echo_table, home_option
from energy_core.home import Home
from energy_core.ops.quality_config import QualityConfig
from energy_core.plugin.registry import quality_checks


@click.command("quality")
@click.option("--dataset", "datasets", multiple=True, help="Only this dataset (repeatable).")
@click.option("--region", "regions", multiple=True, help="Only this region (repeatable).")
@click.option("--stuck-hours", default=QualityConfig.stuck_hours, show_default=True,
              help="Flag a non-zero value repeated for this many consecutive hours.")
@click.option("--outlier-z", default=QualityConfig.outlier_z, show_default=True,
              help="Flag demand or load this many typical hourly changes from the median of the 7 hours around it.")
@click.option("--screen", is_flag=True,
              help="Also screen every demand series with the rules of Ruggles et al. (2020) and store an imputed "
                   "value for each flagged or missing hour as its own series, demand.imputed.profile "
                   "(docs/screening.md).")
@click.option("--json", "as_json", is_flag=True, help="Print every flag as JSON instead of a summary table.")
@home_option
@click.pass_context
def quality_command(ctx: click.Context, datasets: tuple[str, ...], regions: tuple[str, ...], stuck_hours: int,
                    outlier_z: float, screen: bool, as_json: bool, home: Home) -> None:
    """Check the stored data and save the flags; the next feature build masks the stuck, outlying and
    impossible hours (and, after --screen, the screened ones, with the imputed values as a feature of their own)."""
    import polars as pl

    from energy_core.ops.quality import MASKED_CHECKS, check, save, summary

    config = QualityConfig(stuck_hours=stuck_hours, outlier_z=outlier_z)
    flags = check(home, tuple(datasets), tuple(regions), config, quality_checks(plugin_manager(ctx)))
    from energy_core.ops.screening import CHECK as SCREEN

    screening = None
    if screen:
        from energy_core.ops.screening import save_imputed, screen_store

        screening = screen_store(home, tuple(datasets), tuple(regions))
        flags = pl.concat([flags, screening.flags])
        stored = save_imputed(home, screening)
    path = save(flags, home, datasets=datasets, regions=regions, keep_checks=() if screen else (SCREEN,))
    if as_json:
        click.echo(json.dumps(flags.to_dicts(), indent=2, default=str))
        return
    if flags.height == 0:
        click.echo("no quality flags")
    else:
        echo_table(summary(flags).with_columns(pl.col("first", "last").dt.strftime("%Y-%m-%dT%H")))
    if screening is not None:
        click.echo("screened hours per category (Ruggles et al. 2020; MISSING: nothing reported):")
        echo_table(screening.counts.filter(pl.col("category") != "OKAY"))
        imputed = screening.imputed.filter(pl.col("value").is_not_null())
        click.echo(f"imputed: {imputed.height} hours, stored as {', '.join(imputed['series'].unique().sort())} "
                   f"({stored.rows_new} new and {stored.rows_changed} changed rows); the next build masks the "
                   "reported value at those hours and reads the imputed series as a feature of its own")
    click.echo(f"flags: {path} ({flags.height}); the feature store masks {', '.join(MASKED_CHECKS)} hours at its "
               "next build (`energy features build`)")
