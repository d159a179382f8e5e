"""``energy run``: fetch, validate, normalize and store data from one or more sources."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from energy_core.cli import command_line, extras, plugin_manager, user_config
from energy_core.cli.options import UtcDate, home_option
from energy_core.cli.progress import RunProgress, duration
from energy_core.errors import EnergyError, RunInterruptedError
from energy_core.home import Home
from energy_core.plugin.registry import Registry

if TYPE_CHECKING:
    from energy_core.features import FeatureStore
    from energy_core.ingest.planning import SourcePlan
    from energy_core.ingest.report import RunReport
    from energy_core.ingest.runner import RunConfig


class GracefulStop:
    """The first SIGINT or SIGTERM lets the windows in progress finish and be stored and recorded;
    windows not started stay pending for the next run. The second exits at once (what was stored
    stays stored: every write is atomic)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            click.echo("\nstopping now; windows not stored stay pending for the next run", err=True)
            os._exit(128 + number)
        self.signal_number = number
        self.event.set()
        click.echo("\nfinishing the windows in progress, then stopping (press Ctrl-C again to stop at once)",
                   err=True)


@click.command("run")
@click.option("--source", "sources", multiple=True, required=True, help="Source plugin to run (repeatable).")
@click.option("--region", "regions", multiple=True, help="Region code, e.g. PACW (repeatable); default all.")
@click.option("--dataset", "datasets", multiple=True, help="Dataset, e.g. eia.fuel (repeatable); default all.")
@click.option("--start", type=UtcDate(), help="First day (UTC). Default: 7 days before --end.")
@click.option("--end", type=UtcDate(), help="Last day, inclusive (UTC); a timestamp is an exclusive end. "
              "Default: the current hour.")
@click.option("--offline", is_flag=True, help="Serve only from the raw cache; fail on a miss.")
@click.option("--simulate", is_flag=True, help="Start each source's simulator on 127.0.0.1 and use it: "
              "no network, no API key.")
@click.option("--full-refresh", "--refresh", "refresh", is_flag=True,
              help="Fetch every window again, bypassing the store and the raw cache.")
@click.option("--lookback", type=click.FloatRange(min=0), metavar="DAYS",
              help="Refetch stored windows ending within this many days (default: each source's own "
              "revision look-back).")
@click.option("--plan", "show_plan", is_flag=True, help="Print what would be fetched and how long it takes; "
              "send nothing, write nothing.")
@click.option("--sink", "sinks", multiple=True, default=("lake",), show_default=True,
              help="Sink (repeatable). Stored windows are skipped only when every sink can read them back.")
@click.option("--no-features", is_flag=True, help="Do not rebuild the feature store after storing.")
@click.option("--no-resume", is_flag=True, help="Do not fetch the windows earlier runs left pending.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON on stdout (progress and "
              "feature builds go to stderr).")
@home_option
@click.pass_context
def run_command(ctx: click.Context, sources: tuple[str, ...], regions: tuple[str, ...], datasets: tuple[str, ...],
                start: tuple[datetime, bool] | None, end: tuple[datetime, bool] | None, offline: bool, simulate: bool,
                refresh: bool, lookback: float | None, show_plan: bool, sinks: tuple[str, ...], no_features: bool,
                no_resume: bool, as_json: bool, home: Home) -> None:
    """Fetch, validate, normalize and store data, e.g. energy run --source eia --region PACW --start 2024-01-01."""
    from energy_core.features import FeatureStore
    from energy_core.ingest.report import WindowStatus
    from energy_core.ingest.runner import RunConfig, plan, run
    from energy_core.ops.migrate import require_migrated

    require_migrated(home)
    end_at = _end(end)
    start_at = start[0] if start else end_at - timedelta(days=7)
    config = RunConfig(sources=sources, start=start_at, end=end_at, home=home, regions=regions, datasets=datasets,
                       sinks=sinks, offline=offline, simulate=simulate, refresh=refresh, resume=not no_resume,
                       lookback=timedelta(days=lookback) if lookback is not None else None,
                       budgets={name: spec.budget() for name, spec in user_config(ctx).budgets.items()})
    if show_plan:
        click.echo(describe_plan(config, plan(config, registry=Registry(plugin_manager(ctx)))))
        return
    with GracefulStop() as stop, RunProgress() as progress:
        report = run(config, registry=Registry(plugin_manager(ctx)), on_plan=progress.plan,
                     on_window=progress.window, stop=stop.event, command=command_line(ctx))
    if as_json:
        click.echo(json.dumps(report.to_json(), default=str, indent=2))
    else:
        click.echo(summary(report))
        click.echo(f"report: {home.run_report(report.run_id)}")
    if stop.signal_number is not None:
        pending = sum(w.status is WindowStatus.INTERRUPTED for w in report.windows)
        raise RunInterruptedError(f"stopped by signal {stop.signal_number}: {pending} window(s) not started are "
                                  "pending; the next `energy run` fetches them", signal_number=stop.signal_number)
    if not no_features and not extras.installed()["features"]:
        click.echo("features: not rebuilt: the feature store needs the 'features' extra "
                   "(pip install 'energy-core[features]'); the data are stored", err=True)
    elif not no_features and home.lake is not None:
        click.echo(f"features: not rebuilt: the feature store of a shared lake is built by one machine at a time (two "
                   f"builds at once would race); run `energy features build --home {home}` from one, such as a "
                   "scheduled flow", err=True)
    elif not no_features:
        store = FeatureStore(home, entities=user_config(ctx).entities, plugins=plugin_manager(ctx))
        _build_features(store, _entities(store, report), report.run_id, to_stderr=as_json)
    if not report.ok:
        raise EnergyError(f"{len(report.failed)} of {len(report.windows)} windows failed; "
                          f"first: {report.failed[0].error}")


def _build_features(store: FeatureStore, entities: list[str] | None, run_id: str, *, to_stderr: bool) -> None:
    """Rebuild the touched entities when the processed store changed since their builds read it: this
    run stored rows there, or an earlier run did and died before building them, or a run stored while
    a build was reading."""
    if not store.behind(entities):
        return
    from energy_core.cli.features import describe

    click.echo("features:", err=to_stderr)
    store.build(entities, runs=[run_id], on_built=lambda info: click.echo(f"  {describe(info)}", err=to_stderr))


def _entities(store: FeatureStore, report: RunReport) -> list[str] | None:
    """The entities whose data this run received (none when no entity selects it), or None (every
    entity) when it received nothing."""
    return store.touched(report.rows) if report.rows else None


def _end(end: tuple[datetime, bool] | None) -> datetime:
    if end is None:
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    moment, has_time = end
    return moment if has_time else moment + timedelta(days=1)


def summary(report: RunReport) -> str:
    ok = sum(w.status.succeeded for w in report.windows)
    lines = [f"energy run {', '.join(report.sources)} {report.start:%Y-%m-%d %H:%M} .. {report.end:%Y-%m-%d %H:%M} "
             f"UTC: {ok} of {len(report.windows)} windows ok, {report.rows_stored} rows new or changed"]
    if report.skipped_stored:
        lines.append(f"skipped: {report.skipped_stored} window(s) already stored (--full-refresh fetches them again)")
    if report.resumed:
        lines.append(f"resumed: {report.resumed} window(s) that earlier runs did not store")
    if report.rows:
        lines.append("rows received (dataset, region):")
        wide_d = max(len(d) for d, _ in report.rows)
        wide_r = max(len(r) for _, r in report.rows)
        lines += [f"  {d:<{wide_d}}  {r:<{wide_r}}  {n:>10,}" for (d, r), n in sorted(report.rows.items())]
    for source, stats in report.requests.items():
        lines.append(f"requests {source}: {stats['requests']} sent, {stats['cache_hits']} cache hits, "
                     f"{stats['retries']} retries, {stats['throttled']} throttled, at most {stats['peak_in_flight']} "
                     "in flight")
    if report.gaps:
        lines.append(f"gaps: {len(report.gaps)} series miss hours in the range:")
        lines += [f"  {d} {r} {s}: {n} h" for (d, r, s), n in sorted(report.gaps.items())[:20]]
    else:
        lines.append("gaps: none")
    lines += [f"warning: {w}" for w in report.warnings[:20]]
    lines += [f"failed: {w.source} {w.window}: {w.error}" for w in report.failed[:20]]
    return "\n".join(lines)


def describe_plan(config: RunConfig, plans: list[SourcePlan]) -> str:
    from energy_core.ingest.planning import PlanState

    lines = [f"plan: energy run {', '.join(config.sources)} {config.start:%Y-%m-%d %H:%M} .. "
             f"{config.end:%Y-%m-%d %H:%M} UTC (nothing is sent or written)"]
    for source_plan in plans:
        states = [w.state for w in source_plan.windows]
        cached = sum(w.cached for w in source_plan.windows)
        lines.append(f"{source_plan.source}: {len(states)} windows: {states.count(PlanState.STORED)} already stored, "
                     f"{states.count(PlanState.CACHED)} answered by the raw cache ({cached} cached responses), "
                     f"{states.count(PlanState.FETCH)} to fetch: at least {source_plan.requests} request(s), about "
                     f"{source_plan.calls:,.0f} call(s) of the budget, {duration(source_plan.seconds)} at its rate")
        if source_plan.quota:
            lines.append(f"warning: {source_plan.quota}")
        for window_plan in source_plan.windows:
            detail = {PlanState.STORED: "stored, skipped",
                      PlanState.CACHED: f"raw cache ({window_plan.cached} responses)",
                      PlanState.FETCH: f"fetch ({window_plan.cached} cached responses first)" if window_plan.cached
                      else "fetch"}[window_plan.state]
            lines.append(f"  {window_plan.window.describe():<60} {detail}")
    return "\n".join(lines)
