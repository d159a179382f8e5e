"""The built-in commands, registered through ``register_commands`` like any plugin's."""

from __future__ import annotations

import click

from energy_core.cli.backtest import backtest_command
from energy_core.cli.cache import cache_group
from energy_core.cli.config import config_group
from energy_core.cli.doctor import doctor_command
from energy_core.cli.features import features_group
from energy_core.cli.ml import evaluate_command, forecast_command, train_command
from energy_core.cli.monitor import monitor_command
from energy_core.cli.plot import plot_command
from energy_core.cli.plugins import plugins_command
from energy_core.cli.quality import quality_command
from energy_core.cli.query import query_command
from energy_core.cli.run import run_command
from energy_core.cli.runs import runs_command
from energy_core.cli.serve import serve_command
from energy_core.cli.status import lineage_command, status_command
from energy_core.cli.store import store_group
from energy_core.hookspecs import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(run_command)
    cli.add_command(status_command)
    cli.add_command(lineage_command)
    cli.add_command(quality_command)
    cli.add_command(query_command)
    cli.add_command(plot_command)
    cli.add_command(config_group)
    cli.add_command(plugins_command)
    cli.add_command(doctor_command)
    cli.add_command(monitor_command)
    cli.add_command(serve_command)
    cli.add_command(cache_group)
    cli.add_command(store_group)
    cli.add_command(features_group)
    for command in (train_command, evaluate_command, forecast_command, backtest_command):
        cli.add_command(command)
    cli.add_command(runs_command)
