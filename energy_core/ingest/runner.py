"""``energy run`` as a library call: plan, fetch, normalize, validate and sink, source by source."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from energy_core.errors import AuthError, ConfigError, EnergyError, QuotaExhaustedError
from energy_core.home import Home
from energy_core.ingest.cache import RawCache
from energy_core.ingest.catalog import Catalog
from energy_core.ingest.client import HttpClient
from energy_core.ingest.planning import SourcePlan, StoredHours, dry_run, lookback
from energy_core.ingest.report import RunReport
from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.worker import ProgressCallback, run_source
from energy_core.plugin.interfaces import (
    Budget,
    FetchRequest,
    Sink,
    Source,
    SourceContext,
    Window,
)
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import Registry
from energy_core.plugin.simulator import Simulator
from energy_core.storage.parquet import ParquetStore

logger = logging.getLogger(__name__)

_ABORT_SOURCE = (AuthError, QuotaExhaustedError)
"""After these, every further request of the source would fail the same way."""


@dataclass(frozen=True)
class RunConfig:
    sources: tuple[str, ...]
    start: datetime
    end: datetime
    home: Path = Path("data")
    regions: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ("parquet",)
    offline: bool = False
    simulate: bool = False
    refresh: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    env: Mapping[str, str] | None = None
    resume: bool = True
    """Also fetch the windows earlier runs planned but did not store (failed, interrupted, crashed)."""
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    """Source name -> a request budget replacing the one it declares (a paid plan's higher quota, say)."""
    incremental: bool = True
    """Skip windows the store already holds, unless they are recent enough to be revised."""
    lookback: timedelta | None = None
    """How recent a window must be to be fetched again although stored (default: each source's own)."""

    def record(self) -> dict:
        """The configuration as the catalog keeps it: the environment (which holds keys) left out."""
        return {k: v for k, v in asdict(self).items() if k != "env"}

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ConfigError(f"run {name} must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ConfigError(f"run end {self.end:%Y-%m-%d %H:%M} is not after start {self.start:%Y-%m-%d %H:%M}")


PlanCallback = Callable[[dict[str, int]], None]


def run(config: RunConfig, *, registry: Registry | None = None, on_plan: PlanCallback | None = None,
        on_window: ProgressCallback | None = None, stop: threading.Event | None = None,
        command: str = "") -> RunReport:
    """Run the pipeline for ``config`` and return its report. Failed windows are reported, not raised.

    Sources run concurrently, one thread each, every one within its own request budget.
    ``on_plan`` receives the number of windows per source; ``on_window`` each finished window
    (from the source's thread). Once ``stop`` is set, windows not yet started are left for the next
    run. The run, its windows and what stays pending are recorded in the catalog.
    """
    registry = registry or Registry(get_plugin_manager())
    source_classes = [registry.source(name) for name in config.sources]
    _check_datasets(config, source_classes)
    started = datetime.now(UTC)
    report = RunReport(f"{started:%Y%m%dT%H%M%S%fZ}", started, config.sources, config.start, config.end)
    stop = stop or threading.Event()
    catalog = Catalog(config.home)
    cache = RawCache(Home.of(config.home).raw)
    sinks: list[Sink] = []
    begun = stored = False
    try:
        with ExitStack() as stack:
            sinks.extend(registry.sink(name)(config.home) for name in config.sinks)
            planned = []
            for source, http, needed, skipped in _plan_windows(source_classes, config, cache, catalog, stack, report):
                planned.append((source, http, needed))
                report.skipped += skipped
            catalog.begin_run(report.run_id, command=command or f"run {' '.join(config.sources)}", started_at=started,
                              config=config.record(), plugins=registry.versions,
                              windows=[w for _, _, windows in planned for w in windows])
            begun = True
            if on_plan:
                on_plan({source.name: len(windows) for source, _, windows in planned})
            with ThreadPoolExecutor(max_workers=len(planned), thread_name_prefix="energy-source") as pool:
                futures = [pool.submit(run_source, source, registry.normalizer(source.normalizer)(), windows, sinks,
                                       on_window, stop) for source, _, windows in planned]
                results = [future.result() for future in futures]
            for (source, http, _), result in zip(planned, results, strict=True):
                report.windows += result.windows
                report.series_rows.update(result.series_rows)
                report.warnings += result.warnings
                report.requests[source.name] = asdict(http.stats)
        report.rows_stored = _close(sinks)
        stored = True
    finally:
        if not stored:
            with contextlib.suppress(EnergyError):  # keep what was validated; the first error is the one to show
                _close(sinks)
        cache.close()
        report.finished_at = datetime.now(UTC)
        try:
            if begun:
                catalog.finish_run(report, stored=stored)
        finally:
            catalog.close()
    report.gaps = _gaps(config, source_classes)
    return report


def plan(config: RunConfig, *, registry: Registry | None = None) -> list[SourcePlan]:
    """What ``run(config)`` would do, without sending a request or writing anything: each window is
    stored (skipped), answered by the raw cache, or to be fetched, with the time the budgets take."""
    registry = registry or Registry(get_plugin_manager())
    source_classes = [registry.source(name) for name in config.sources]
    _check_datasets(config, source_classes)
    scratch = RunReport("plan", datetime.now(UTC), config.sources, config.start, config.end)
    cache = RawCache(Home.of(config.home).raw)
    catalog = Catalog(config.home)
    try:
        with ExitStack() as stack:
            return [dry_run(source, http, needed, skipped) for source, http, needed, skipped
                    in _plan_windows(source_classes, config, cache, catalog, stack, scratch)]
    finally:
        cache.close()
        catalog.close()


def _plan_windows(source_classes: Sequence[type[Source]], config: RunConfig, cache: RawCache, catalog: Catalog,
                  stack: ExitStack, report: RunReport) -> list[tuple[Source, HttpClient, list[Window], list[Window]]]:
    """Each source with its client, the windows to fetch (pending ones of earlier runs first) and
    those skipped as already stored."""
    base_env = dict(os.environ if config.env is None else config.env)
    planned = [_prepare(cls, config, base_env, cache, stack) for cls in source_classes]
    if config.resume:
        planned = [(source, http, _with_pending(catalog, source, config, windows, report))
                   for source, http, windows in planned]
    windows = [w for _, _, ws in planned for w in ws]
    span = (min(w.start for w in windows), max(w.end for w in windows)) if windows else (config.start, config.end)
    stored = StoredHours(ParquetStore(Home.of(config.home).processed), *span)
    return [(source, http, *_needed(source, windows, stored, config)) for source, http, windows in planned]


def _needed(source: Source, windows: list[Window], stored: StoredHours,
            config: RunConfig) -> tuple[list[Window], list[Window]]:
    """The windows to fetch and those skipped as already stored (none when the run refetches)."""
    if not config.incremental or config.refresh or "parquet" not in config.sinks:
        return windows, []
    settled_before = datetime.now(UTC) - lookback(type(source), config.lookback)
    needed, skipped = [], []
    for window in windows:
        (skipped if window.end <= settled_before and stored.covers(window) else needed).append(window)
    return needed, skipped


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


def _with_pending(catalog: Catalog, source: Source, config: RunConfig, windows: list[Window],
                  report: RunReport) -> list[Window]:
    """Earlier runs' unstored windows of this source first, then this run's plan (each window once)."""
    planned = set(windows)
    resumed = [w for w in catalog.pending(source.name, _datasets_for(type(source), config)) if w not in planned]
    if resumed:
        logger.info("%s: resuming %d window(s) that earlier runs did not store", source.name, len(resumed))
    report.resumed += len(resumed)
    return resumed + windows


def _prepare(source_cls: type[Source], config: RunConfig, base_env: dict[str, str], cache: RawCache,
             stack: ExitStack) -> tuple[Source, HttpClient, list[Window]]:
    env, namespace, budget = base_env, None, None
    if config.simulate:
        simulator = _start_simulator(source_cls, base_env, stack)
        namespace = ":".join(filter(None, ("simulator", source_cls.name, simulator.data_id)))
        env, budget = {**base_env, **simulator.env()}, simulator.budget
    budget = config.budgets.get(source_cls.name, budget)
    http = HttpClient(source=source_cls.name, budget=source_cls.budget, cache=cache, cache_namespace=namespace,
                      retry=config.retry, offline=config.offline, refresh=config.refresh, budget_override=budget)
    stack.callback(http.close)
    source = source_cls(SourceContext(http=http, env=env))
    datasets = _datasets_for(source_cls, config)
    request = FetchRequest(config.start, config.end, config.regions, datasets)
    return source, http, source.plan(request) if datasets else []


def _datasets_for(source_cls: type[Source], config: RunConfig) -> tuple[str, ...]:
    """The source's datasets that the run asks for: all of them unless ``--dataset`` narrows it."""
    if not config.datasets:
        return tuple(source_cls.datasets)
    return tuple(d for d in config.datasets if d in source_cls.datasets)


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


def _gaps(config: RunConfig, source_classes: Sequence[type[Source]]) -> dict[tuple[str, str, str], int]:
    """Hours in the requested range with no stored row, per stored (dataset, region, series)."""
    if "parquet" not in config.sinks:
        return {}
    datasets = [d for cls in source_classes for d in _datasets_for(cls, config)]
    expected = int((config.end - config.start).total_seconds() // 3600)
    store = ParquetStore(Home.of(config.home).processed)
    frame = (
        store.scan()
        .filter(pl.col("dataset").is_in(datasets), pl.col("ts") >= config.start, pl.col("ts") < config.end,
                *([pl.col("region").is_in(config.regions)] if config.regions else []))
        .group_by("dataset", "region", "series")
        .agg(hours=pl.col("ts").dt.truncate("1h").n_unique())
        .collect()
    )
    return {(d, r, s): expected - n for d, r, s, n in frame.iter_rows() if n < expected}
