"""``energy monitor``: check a home against its objectives, open and resolve incidents, send alerts."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from energy_core.cli import plugin_manager
from energy_core.cli.options import home_option
from energy_core.errors import ConfigError
from energy_core.home import Home

if TYPE_CHECKING:
    from energy_core.ops.monitor import MonitorReport, MonitorSettings, Objective
    from energy_core.plugin.alerting import Alerter

EXIT_FAILED = 1
"""A check failed (75, another check held the lock, comes from :class:`~energy_core.ops.locks.StoreBusyError`)."""


class ObjectiveType(click.ParamType):
    """An objective from ``--objective`` (``key=value`` words) or from ``[[monitor.objectives]]`` (a table)."""

    name = "OBJECTIVE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Objective:
        from energy_core.ops.monitor import Objective

        if isinstance(value, Objective):
            return value
        try:
            return Objective.from_mapping(value) if isinstance(value, Mapping) else Objective.parse(str(value))
        except ConfigError as exc:
            self.fail(f"{exc} (see docs/operations.md)", param, ctx)


@click.command("monitor")
@click.option("--objective", "objectives", multiple=True, type=ObjectiveType(), metavar="SPEC",
              help="A freshness or completeness objective, e.g. 'dataset=eia.region region=PACW series=demand "
                   "max_age=3h max_gap=2h' (repeatable; replaces the [[monitor.objectives]] of energy.toml).")
@click.option("--webhook", "webhooks", multiple=True, metavar="URL",
              help="POST the alerts as JSON to this URL (repeatable; also [monitor] webhooks). A URL that is a "
                   "credential goes in $ENERGY_MONITOR_WEBHOOK_SECRET instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the check as JSON: every check, the failures, the "
              "alerts that fired and resolved, the incidents open and how each alert destination took them.")
@click.option("--serve-metrics", "serve_metrics", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve Prometheus metrics on this port (0: any free one) and check again every --interval "
                   "seconds, until stopped.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="The address --serve-metrics binds (the metrics hold no secret).")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=1.0),
              help="Seconds between checks with --serve-metrics.")
@click.option("--metrics-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the metrics to this file after each check (node_exporter's textfile collector).")
@click.option("--quality-days", default=7.0, show_default=True, type=click.FloatRange(min=0.0),
              help="Quality flags on hours this many days back or later fail (0: flags are not checked).")
@click.option("--drift-days", default=7.0, show_default=True, type=click.FloatRange(min=0.0, min_open=True),
              help="Score the forecasts issued in this many days against the actual values that arrived.")
@click.option("--drift-tolerance", default=0.10, show_default=True, type=click.FloatRange(min=0.0),
              help="Drift: a MAPE more than this fraction above the better seasonal-naive baseline's.")
@click.option("--drift-min-hours", default=24, show_default=True, type=click.IntRange(min=1),
              help="Judge drift once this many forecast hours have an actual value.")
@click.option("--wait", default=120.0, show_default=True, type=click.FloatRange(min=0.0),
              help="Seconds to wait for another `energy monitor` of this home to finish; then this one is "
                   "skipped (exit 75).")
@home_option
@click.pass_context
def monitor_command(ctx: click.Context, objectives: tuple[Objective, ...], webhooks: tuple[str, ...], as_json: bool,
                    serve_metrics: int | None, metrics_host: str, interval: float, metrics_file: Path | None,
                    quality_days: float, drift_days: float, drift_tolerance: float, drift_min_hours: int, wait: float,
                    home: Home) -> None:
    """Check the freshness and completeness objectives, failed or quota-stopped runs, recent quality
    flags and forecast accuracy drift; exit 0 when every check passes, 1 when any fails.

    \b
    The report goes to stdout. An alert fires once when a check starts failing and resolves once when
    it passes again: the log (stderr) hears of it, and so do --webhook URLs and installed alerter
    plugins. Objectives live in energy.toml ([[monitor.objectives]], see docs/operations.md) or come
    from --objective.
    """
    from energy_core.ops.monitor import MonitorSettings, create_alerters
    from energy_core.plugin.alerting import AlertContext

    settings = MonitorSettings(objectives=objectives, quality_days=quality_days, drift_days=drift_days,
                               drift_tolerance=drift_tolerance, drift_min_hours=drift_min_hours)
    context = AlertContext(home=home.root, webhooks=webhooks, metrics_port=serve_metrics, metrics_host=metrics_host,
                           metrics_file=metrics_file, env=dict(os.environ))
    alerters = create_alerters(plugin_manager(ctx), context)
    try:
        if serve_metrics is None:
            report = _check(home, settings, alerters, wait)
            click.echo(json.dumps(report.to_json(), indent=2) if as_json else describe(report, settings))
            if not report.ok:  # the failures are printed above; stderr holds only the alerts, once per incident
                raise SystemExit(EXIT_FAILED)
            return
        _serve(home, settings, alerters, wait, interval, as_json)
    finally:
        from energy_core.ops.monitor.alerters import close_all

        close_all(alerters)


def _check(home: Home, settings: MonitorSettings, alerters: list[Alerter], wait: float) -> MonitorReport:
    from energy_core.ops.monitor import check

    return check(home, settings, alerters, wait_s=wait)


def _serve(home: Home, settings: MonitorSettings, alerters: list[Alerter], wait: float, interval: float,
           as_json: bool) -> None:
    """Check every ``interval`` seconds while the metrics are served, until SIGINT or SIGTERM."""
    from energy_core.ops.locks import StoreBusyError
    from energy_core.ops.monitor.alerters import PrometheusAlerter

    url = next(a.url for a in alerters if isinstance(a, PrometheusAlerter))
    click.echo(f"metrics: {url} (checking {home} every {interval:g} s; Ctrl-C stops)", err=True)
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set():
            try:
                report = _check(home, settings, alerters, wait)
            except StoreBusyError as exc:
                click.echo(f"warning: {exc}", err=True)
            else:
                click.echo(json.dumps(report.to_json()) if as_json else describe(report, settings))
            stop.wait(interval)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    click.echo("stopped", err=True)


def describe(report: MonitorReport, settings: MonitorSettings) -> str:
    """The check as a person reads it: a headline, each failure, what fired and resolved, delivery problems."""
    failing = report.failures
    lines = [f"energy monitor {report.checked_at:%Y-%m-%d %H:%M} UTC: {len(report.checks)} checks, "
             f"{len(failing)} failing, {len(report.open)} incident(s) open"]
    if not settings.objectives:
        lines.append("note: no freshness or completeness objectives: add [[monitor.objectives]] to energy.toml or "
                     "give --objective (docs/operations.md)")
    lines += [f"FAIL {c.kind} {c.summary}" for c in failing]
    lines += [f"fired: {a.kind} {a.subject} (incident {a.incident})" for a in report.fired]
    lines += [f"resolved: {a.kind} {a.subject} (incident {a.incident}, open since {a.opened_at:%Y-%m-%d %H:%M} UTC)"
              for a in report.resolved]
    lines += [f"not delivered: {where}: {why}; offered again at the next check"
              for where, why in report.delivery.items() if why]
    if not failing:
        lines.append("ok: every check passed")
    return "\n".join(lines)
