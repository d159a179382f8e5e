"""``energy run`` as a library call: plan, fetch, normalize, validate and sink, source by source."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from energy_core.cache import RawCache
from energy_core.catalog import Catalog
from energy_core.errors import AuthError, ConfigError, EnergyError, QuotaExhaustedError, StorageError
from energy_core.faults import fault_point
from energy_core.http import CACHE_HIT, Budget, HttpClient, RetryPolicy
from energy_core.interfaces import FetchRequest, Normalizer, RawBatch, Sink, Source, SourceContext, Window
from energy_core.planning import SourcePlan, StoredHours, dry_run, lookback
from energy_core.plugins import get_plugin_manager
from energy_core.registry import Registry
from energy_core.schema import validate_observations
from energy_core.simulator import Simulator
from energy_core.store import ParquetStore

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


@dataclass
class WindowOutcome:
    spec: Window
    status: str  # "ok" | "empty" | "failed" | "skipped" | "interrupted"
    rows: int = 0
    from_cache: bool = False
    error: str | None = None
    seconds: float = 0.0
    requests: list[str] = field(default_factory=list)
    """The requests this window made (credentials removed); ``cache:`` marks cache hits."""
    retrieved_at: list[datetime] = field(default_factory=list)
    """When each of its batches was retrieved: the ``retrieved_at`` its stored rows carry."""

    @property
    def source(self) -> str:
        return self.spec.source

    @property
    def window(self) -> str:
        return self.spec.describe()


@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    sources: tuple[str, ...]
    start: datetime
    end: datetime
    windows: list[WindowOutcome] = field(default_factory=list)
    series_rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Rows received per (dataset, region, series)."""
    resumed: int = 0
    """Windows taken over from earlier runs that did not store them."""
    skipped: list[Window] = field(default_factory=list)
    """Windows not fetched because the store already holds them (incremental runs)."""
    rows_stored: int = 0
    requests: dict[str, dict[str, float]] = field(default_factory=dict)
    gaps: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """Hours missing in the requested range per (dataset, region, series)."""
    warnings: list[str] = field(default_factory=list)
    finished_at: datetime | None = None

    @property
    def failed(self) -> list[WindowOutcome]:
        return [w for w in self.windows if w.status in ("failed", "skipped", "interrupted")]

    @property
    def rows(self) -> Counter[tuple[str, str]]:
        """Rows received per (dataset, region)."""
        return _per_region(self.series_rows)

    @property
    def skipped_stored(self) -> int:
        return len(self.skipped)

    @property
    def interrupted(self) -> bool:
        return any(w.status == "interrupted" for w in self.windows)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict:
        data = asdict(self)
        data["rows"] = [{"dataset": d, "region": r, "rows": n} for (d, r), n in sorted(self.rows.items())]
        data["series_rows"] = [{"dataset": d, "region": r, "series": s, "rows": n}
                               for (d, r, s), n in sorted(self.series_rows.items())]
        data["gaps"] = [{"dataset": d, "region": r, "series": s, "missing_hours": n}
                        for (d, r, s), n in sorted(self.gaps.items())]
        for entry, outcome in zip(data["windows"], self.windows, strict=True):
            entry.update(source=outcome.source, window=outcome.window)
        data["ok"] = self.ok
        return data


@dataclass
class SourceResult:
    """What one source's thread produced; merged into the report in source order."""

    windows: list[WindowOutcome] = field(default_factory=list)
    series_rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


def _per_region(series_rows: Counter[tuple[str, str, str]]) -> Counter[tuple[str, str]]:
    rows: Counter[tuple[str, str]] = Counter()
    for (dataset, region, _), n in series_rows.items():
        rows[(dataset, region)] += n
    return rows


ProgressCallback = Callable[[WindowOutcome], None]
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
    cache = RawCache(config.home / "raw")
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
                futures = [pool.submit(_run_source, source, registry.normalizer(source.normalizer)(), windows, sinks,
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
    cache = RawCache(config.home / "raw")
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
    stored = StoredHours(ParquetStore(config.home / "processed"), *span)
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


class BatchWriter:
    """Normalizes, validates and writes batches on one background thread.

    While a batch is stored (polars work, which releases the GIL), the caller fetches and parses
    the next one. At most one batch is in flight, so memory holds two windows at most. Results
    (row counts, or the error that failed the batch) land on the batch's window outcome.
    """

    def __init__(self, normalizer: Normalizer, sinks: Sequence[Sink], result: SourceResult) -> None:
        self.normalizer = normalizer
        self.sinks = sinks
        self.result = result
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="energy-writer")
        self._pending: tuple[WindowOutcome, Future[pl.DataFrame]] | None = None

    def submit(self, batch: RawBatch, outcome: WindowOutcome) -> None:
        """Settle the batch in flight, then start storing ``batch``."""
        self.wait()
        if outcome.status != "failed":
            self._pending = (outcome, self._pool.submit(self._store, batch))

    def wait(self) -> None:
        """Block until the batch in flight is stored and its outcome updated."""
        if self._pending is None:
            return
        (outcome, future), self._pending = self._pending, None
        try:
            counts = future.result()
        except StorageError:
            raise  # a flush may hold earlier windows' rows too: stop the run rather than misreport them
        except EnergyError as exc:
            outcome.status, outcome.error = "failed", str(exc)
            logger.error("%s %s failed: %s", outcome.source, outcome.window, exc)
            return
        for dataset, region, series, n in counts.iter_rows():
            self.result.series_rows[(dataset, region, series)] += n
            outcome.rows += n

    def holds(self, outcome: WindowOutcome) -> bool:
        return self._pending is not None and self._pending[0] is outcome

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _store(self, batch: RawBatch) -> pl.DataFrame:
        observations = validate_observations(self.normalizer.normalize(batch),
                                             producer=f"normalizer {self.normalizer.name!r}")
        fault_point("validated")
        for sink in self.sinks:
            sink.write(observations)
        return observations.group_by("dataset", "region", "series").len()


def _run_source(source: Source, normalizer: Normalizer, windows: Sequence[Window], sinks: Sequence[Sink],
                on_window: ProgressCallback | None, stop: threading.Event) -> SourceResult:
    """Fetch window after window; each window's store overlaps the next window's fetch."""
    result = SourceResult()
    writer = BatchWriter(normalizer, sinks, result)
    unrecorded: WindowOutcome | None = None  # fetched, but its last batch may still be storing

    def record(outcome: WindowOutcome) -> None:
        if outcome.status == "ok" and outcome.rows == 0:
            outcome.status = "empty"
        result.windows.append(outcome)
        if on_window:
            on_window(outcome)

    abort: EnergyError | None = None
    try:
        for window in windows:
            outcome = WindowOutcome(window, "ok")
            if stop.is_set():
                outcome.status, outcome.error = "interrupted", "stopped before this window; the next run resumes it"
            elif abort is not None:
                outcome.status, outcome.error = "skipped", f"not attempted after: {abort}"
            else:
                began, first_request = time.monotonic(), len(source.http.history)
                try:
                    for batch in source.fetch(window):
                        outcome.retrieved_at.append(batch.retrieved_at)
                        result.warnings.extend(f"{source.name}: {window.describe()}: {w}" for w in batch.warnings)
                        writer.submit(batch, outcome)
                        if unrecorded is not None:  # submit() settled it
                            record(unrecorded)
                            unrecorded = None
                except EnergyError as exc:
                    outcome.status, outcome.error = "failed", str(exc)
                    logger.error("%s %s failed: %s", source.name, window.describe(), exc)
                    if isinstance(exc, _ABORT_SOURCE):
                        abort = exc
                outcome.requests = source.http.history[first_request:]
                outcome.from_cache = bool(outcome.requests) and all(r.startswith(CACHE_HIT) for r in outcome.requests)
                outcome.seconds = round(time.monotonic() - began, 3)
            if writer.holds(outcome):
                unrecorded = outcome
                continue
            writer.wait()
            for done in (unrecorded, outcome):
                if done is not None:
                    record(done)
            unrecorded = None
        writer.wait()
        if unrecorded is not None:
            record(unrecorded)
    finally:
        writer.close()
    return result


def _gaps(config: RunConfig, source_classes: Sequence[type[Source]]) -> dict[tuple[str, str, str], int]:
    """Hours in the requested range with no stored row, per stored (dataset, region, series)."""
    if "parquet" not in config.sinks:
        return {}
    datasets = [d for cls in source_classes for d in _datasets_for(cls, config)]
    expected = int((config.end - config.start).total_seconds() // 3600)
    store = ParquetStore(config.home / "processed")
    frame = (
        store.scan()
        .filter(pl.col("dataset").is_in(datasets), pl.col("ts") >= config.start, pl.col("ts") < config.end,
                *([pl.col("region").is_in(config.regions)] if config.regions else []))
        .group_by("dataset", "region", "series")
        .agg(hours=pl.col("ts").dt.truncate("1h").n_unique())
        .collect()
    )
    return {(d, r, s): expected - n for d, r, s, n in frame.iter_rows() if n < expected}
