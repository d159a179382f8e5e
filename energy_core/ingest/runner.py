"""``energy run`` as a library call: the orchestration of a run.

Plan each source's windows (:mod:`~energy_core.ingest.planning`), fetch them on threads of each
source's own, each window normalized, validated and sunk by the thread that fetched it
(:mod:`~energy_core.ingest.worker`), record the run in the catalog, and write its report
(:mod:`~energy_core.ingest.report`) with the gaps the sinks still have (:mod:`~energy_core.ingest.gaps`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime

from energy_core.errors import ConfigError, EnergyError
from energy_core.home import Home
from energy_core.ingest.cache import RawCache
from energy_core.ingest.catalog import Catalog, FinishedRun, RunStatus
from energy_core.ingest.client import FetchMode, HttpClient, HttpSettings
from energy_core.ingest.config import RunConfig
from energy_core.ingest.gaps import gaps
from energy_core.ingest.planning import (
    Estimate,
    SourcePlan,
    dry_run,
    estimate,
    estimated_calls,
    plan_windows,
    quota_problem,
)
from energy_core.ingest.redaction import SecretScope, redact, redacted_errors
from energy_core.ingest.regions import region_shares
from energy_core.ingest.report import RunReport
from energy_core.ingest.worker import ProgressCallback, SourceResult, run_source
from energy_core.plugin.interfaces import FetchRequest, Sink, Source, SourceContext, Window
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import Registry
from energy_core.plugin.simulator import Simulator
from energy_core.storage.journal import Journal

__all__ = ["PlanCallback", "RunConfig", "plan", "run"]

logger = logging.getLogger(__name__)

PlanCallback = Callable[[dict[str, Estimate]], None]

SIGNAL_CHECK_S = 0.2
"""How often the main thread wakes while sources run. The kernel may hand a Ctrl-C to any thread, and
Python runs the handler only once the main thread runs again: blocked on the sources alone, it would
not notice a first Ctrl-C until every window had ended."""


def run(config: RunConfig, *, registry: Registry | None = None, on_plan: PlanCallback | None = None,
        on_window: ProgressCallback | None = None, stop: threading.Event | None = None,
        command: str = "") -> RunReport:
    """Run the pipeline for ``config`` and return its report. Failed windows are reported, not raised.

    Sources run concurrently, each with several windows and requests in flight within its own request
    budget (:mod:`~energy_core.ingest.worker`); a run whose estimated calls exceed a source's quota says so
    before sending anything.
    ``on_plan`` receives each source's :class:`Estimate` (windows, calls, budget time); ``on_window``
    each finished window (from the source's thread). Once ``stop`` is set, windows not yet started are left for the next
    run. The run, its windows and what stays pending are recorded in the catalog, and the report is
    written to ``<home>/runs/<run_id>.json``. The credentials the sources read are redacted from the
    logs while the run lasts, and from window errors, warnings and any error the run raises before
    they are forgotten.

    A sink that fails to store (:class:`StorageError`) stops the run and is raised: its flush may hold
    several windows' rows, so every window of the run stays pending for the next one.
    """
    registry, source_classes, home, sinks, regions = _components(config, registry)
    started = datetime.now(UTC)
    report = RunReport(f"{started:%Y%m%dT%H%M%S%fZ}", started, config.sources, config.start, config.end)
    stop = stop or threading.Event()
    with SecretScope() as secrets, redacted_errors():
        catalog = Catalog(home)
        cache = RawCache(home.raw)
        begun = stored = False
        try:
            with ExitStack() as stack:
                for sink in sinks:
                    stack.enter_context(sink)
                prepared = [_prepare(cls, config, regions[cls.name], cache, secrets, stack, _fetch_mode(config))
                            for cls in source_classes]
                planned = plan_windows(prepared, config, catalog, sinks)
                for item in planned:
                    report.skipped += item.skipped
                    report.resumed += item.resumed
                    problem = quota_problem(item.source, item.http, estimated_calls(item.source, item.needed))
                    if problem:
                        logger.warning("%s", problem)
                        report.warnings.append(problem)
                catalog.begin_run(report.run_id, command=command or f"run {' '.join(config.sources)}",
                                  started_at=started, config=config.record(), plugins=registry.versions,
                                  windows=[w for item in planned for w in item.needed])
                begun = True
                if on_plan:
                    on_plan({item.source.name: estimate(item) for item in planned})
                with ThreadPoolExecutor(max_workers=len(planned), thread_name_prefix="energy-source") as pool:
                    futures = [pool.submit(run_source, item.source, item.http,
                                           registry.normalizer(item.source.normalizer)(), item.needed, sinks,
                                           on_window, stop) for item in planned]
                    results = _results(futures)
                for item, result in zip(planned, results, strict=True):
                    report.windows += result.windows
                    report.series_rows.update(result.series_rows)
                    report.warnings += result.warnings
                    report.requests[item.source.name] = asdict(item.http.stats)
                report.rows_stored = _close(sinks)
                stored = True
        finally:
            cache.close()
            report.finished_at = datetime.now(UTC)
            try:
                if begun:
                    catalog.finish_run(_finished(report, stored=stored))
                    if home.lake is not None:
                        _journal(home, catalog, report)
            finally:
                catalog.close()
        datasets = [d for cls in source_classes for d in config.datasets_of(cls)]
        report.gaps = gaps(sinks, datasets, config.start, config.end, config.regions)
        report.write(home.run_report(report.run_id))
    return report


def _journal(home: Home, catalog: Catalog, report: RunReport) -> None:
    """Append the run and its windows to the shared lake's journal, where the team's ``energy status`` reads them."""
    try:
        [record] = [r for r in catalog.runs() if r.run_id == report.run_id]
        Journal(home).record(asdict(record), catalog.windows(report.run_id))
    except Exception as exc:  # the data and this machine's catalog are written: say so, lose nothing
        message = f"the run is stored, but its record could not be added to the lake's journal: {exc}"
        logger.warning("%s", message)
        report.warnings.append(redact(message))


def plan(config: RunConfig, *, registry: Registry | None = None) -> list[SourcePlan]:
    """What ``run(config)`` would do, without sending a request or storing anything: each window is
    stored (skipped), answered by the raw cache, or to be fetched, with the time the budgets take.
    The sinks are read, not opened: a plan takes no lock (it opens the home's catalog and raw cache,
    creating them empty on a new home)."""
    _, source_classes, home, sinks, regions = _components(config, registry)
    with SecretScope() as secrets, redacted_errors(), ExitStack() as stack:
        cache = RawCache(home.raw)
        stack.callback(cache.close)
        catalog = Catalog(home)
        stack.callback(catalog.close)
        prepared = [_prepare(cls, config, regions[cls.name], cache, secrets, stack, FetchMode.DRY_RUN)
                    for cls in source_classes]
        return [dry_run(item, refresh=config.refresh) for item in plan_windows(prepared, config, catalog, sinks)]


def _components(config: RunConfig, registry: Registry | None
                ) -> tuple[Registry, list[type[Source]], Home, list[Sink], dict[str, tuple[str, ...]]]:
    """The run's registry (the installed plugins' by default), its source classes, its home, its
    sinks (not yet opened) and the regions each source fetches; unknown names, datasets no source
    offers and regions no source knows are refused first."""
    registry = registry or Registry(get_plugin_manager())
    source_classes = [registry.source(name) for name in config.sources]
    sink_classes = [registry.sink(name) for name in config.sinks]
    _check_datasets(config, source_classes)
    regions = _regions(config, source_classes)
    home = Home.of(config.home)
    return registry, source_classes, home, [cls(home) for cls in sink_classes], regions


def _environment(config: RunConfig) -> dict[str, str]:
    """The run's environment: ``config.env``, else the process's."""
    return dict(os.environ if config.env is None else config.env)


def _regions(config: RunConfig, source_classes: Sequence[type[Source]]) -> dict[str, tuple[str, ...]]:
    """Source name -> the run's regions it knows (see :mod:`~energy_core.ingest.regions`)."""
    if not config.regions:
        return {cls.name: () for cls in source_classes}
    env = _environment(config)
    return region_shares(config.regions, {cls.name: cls.known_regions(env) for cls in source_classes})


def _fetch_mode(config: RunConfig) -> FetchMode:
    """``--offline`` wins over ``--full-refresh``: an offline run never touches the network."""
    if config.offline:
        return FetchMode.OFFLINE
    return FetchMode.REFRESH if config.refresh else FetchMode.NORMAL


def _prepare(source_cls: type[Source], config: RunConfig, regions: tuple[str, ...], cache: RawCache,
             secrets: SecretScope, stack: ExitStack, mode: FetchMode) -> tuple[Source, HttpClient, list[Window]]:
    """The source (with its simulator started when the run simulates), its client, and its own plan
    of the run's range for ``regions``, its share of the run's (none when it knows none of them)."""
    env: Mapping[str, str] = _environment(config)
    namespace, budget = None, None
    if config.simulate:
        simulator = _start_simulator(source_cls, env, stack)
        namespace = ":".join(filter(None, ("simulator", source_cls.name, simulator.data_id)))
        env, budget = {**env, **simulator.env()}, simulator.budget
    settings = HttpSettings(budget=source_cls.budget, budget_override=config.budgets.get(source_cls.name, budget),
                            retry=config.retry, cache_namespace=namespace)
    http = stack.enter_context(HttpClient(source_cls.name, settings, mode=mode, cache=cache, secrets=secrets))
    source = source_cls(SourceContext(http=http, env=env, secrets=secrets))
    datasets = config.datasets_of(source_cls)
    request = FetchRequest(config.start, config.end, regions, datasets)
    return source, http, source.plan(request) if datasets and (regions or not config.regions) else []


def _results(futures: Sequence[Future[SourceResult]]) -> list[SourceResult]:
    while wait(futures, timeout=SIGNAL_CHECK_S).not_done:
        pass
    return [future.result() for future in futures]


def _close(sinks: Sequence[Sink]) -> int:
    """Flush and close every sink (all of them, even after one fails); return the rows they wrote."""
    written, error = 0, None
    for sink in sinks:
        try:
            written += sink.close().rows_written
        except EnergyError as exc:
            error = error or exc
    if error is not None:
        raise error
    return written


def _finished(report: RunReport, *, stored: bool) -> FinishedRun:
    """The run as the catalog records it. ``stored``: the sinks flushed everything; otherwise every
    window of the run stays pending."""
    status = RunStatus.OK if report.ok and stored else RunStatus.FAILED
    if report.interrupted:
        status = RunStatus.INTERRUPTED
    return FinishedRun(report.run_id, status, report.finished_at, report.rows_stored, report.windows,
                       stored={w.spec for w in report.windows if stored and w.status.succeeded},
                       found_stored=report.skipped, series_rows=report.series_rows)


def _check_datasets(config: RunConfig, source_classes: Sequence[type[Source]]) -> None:
    known = {d: cls.name for cls in source_classes for d in cls.datasets}
    unknown = [d for d in config.datasets if d not in known]
    if unknown:
        raise ConfigError(f"dataset(s) {unknown} belong to none of the sources {list(config.sources)}; "
                          f"they offer {', '.join(sorted(known))}")


def _start_simulator(source_cls: type[Source], env: Mapping[str, str], stack: ExitStack) -> Simulator:
    simulator = source_cls.simulator(env)
    if simulator is None:
        raise ConfigError(f"source {source_cls.name!r} has no simulator; run it without --simulate")
    return stack.enter_context(simulator)
