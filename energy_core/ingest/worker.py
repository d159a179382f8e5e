"""One source's windows, several at a time: each window is fetched on a thread of its own (its pages
concurrently, through the client), and its batches are stored as they arrive, one at a time, on the
source's store thread."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from energy_core.crash_points import fault_point
from energy_core.errors import AuthError, EnergyError, QuotaExhaustedError, StorageError
from energy_core.ingest.budget import fixed_concurrency
from energy_core.ingest.client import Answer, HttpClient
from energy_core.ingest.redaction import redact
from energy_core.ingest.report import WindowOutcome, WindowStatus
from energy_core.plugin.interfaces import Normalizer, RawBatch, Sink, Source, Window
from energy_core.storage.schema import validate_observations

logger = logging.getLogger(__name__)

WINDOWS_IN_FLIGHT = 16
"""Windows a source fetches at once. Each holds its batches until they are stored, so this bounds
memory; their pages, fetched concurrently, keep the request budget busy."""
SEQUENTIAL_WINDOWS_IN_FLIGHT = 2
"""For a source that sends one request at a time: one window stores while the next one fetches."""

_ABORT_SOURCE = (AuthError, QuotaExhaustedError)
"""After these, every further request of the source would fail the same way."""

ProgressCallback = Callable[[WindowOutcome], None]


@dataclass
class SourceResult:
    """What one source's windows produced; merged into the report in source order."""

    windows: list[WindowOutcome] = field(default_factory=list)
    """In the order they were planned, whatever order they finished in."""
    series_rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


class WindowStore:
    """Normalizes, validates and writes batches to the sinks on one thread of its own, one batch at a time.

    Window threads hand their batches over and wait. Each step is polars or delta-rs work that spreads over
    the cores within a call; run from every window thread at once, the steps queue for the GIL that page
    decoding holds (``benchmarks/ingest_eia.py``, four runs each: 7.6-8.5 s from one thread, 8.3-9.2 s
    from sixteen). Use it as a context manager.
    """

    def __init__(self, normalizer: Normalizer, sinks: Sequence[Sink]) -> None:
        self.normalizer = normalizer
        self.sinks = sinks
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="energy-store")

    def __enter__(self) -> WindowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.shutdown()

    def store(self, batch: RawBatch) -> pl.DataFrame:
        """Store one batch; return its rows per (dataset, region, series). A sink's failure raises
        :class:`StorageError`; a normalizer's or the schema check's, the error that describes it."""
        return self._thread.submit(self._store, batch).result()

    def _store(self, batch: RawBatch) -> pl.DataFrame:
        observations = validate_observations(self.normalizer.normalize(batch),
                                             producer=f"normalizer {self.normalizer.name!r}")
        fault_point("validated")
        for sink in self.sinks:
            sink.write(observations)
        return observations.group_by("dataset", "region", "series").len()

    def expect(self, dataset: str, coming: list[tuple[datetime, datetime | None]]) -> None:
        """Tell the sinks where rows of ``dataset`` may still come (see :meth:`Sink.expect`)."""
        self._thread.submit(self._expect, dataset, coming).result()

    def _expect(self, dataset: str, coming: list[tuple[datetime, datetime | None]]) -> None:
        for sink in self.sinks:
            sink.expect(dataset, coming)


class _Unended:
    """Where a source's windows that have not ended lie, per dataset: the spans of those under way, and
    from where on those not yet started begin (they start in order)."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self._windows = windows
        self._started = 0
        self._running: dict[int, Window] = {}
        self._later: dict[str, list[datetime | None]] = {}
        """Per dataset, by position in ``windows``: the earliest start from that position on (None: none)."""
        for dataset in {w.dataset for w in windows}:
            earliest: list[datetime | None] = [None] * (len(windows) + 1)
            for position in range(len(windows) - 1, -1, -1):
                window, after = windows[position], earliest[position + 1]
                if window.dataset != dataset:
                    earliest[position] = after
                else:
                    earliest[position] = window.start if after is None else min(window.start, after)
            self._later[dataset] = earliest

    def start(self, position: int) -> None:
        self._started = position + 1
        self._running[position] = self._windows[position]

    def end(self, position: int) -> list[tuple[datetime, datetime | None]]:
        """Mark a window ended (started or not); return where its dataset's rows may still come."""
        dataset = self._windows[position].dataset
        self._running.pop(position, None)
        coming: list[tuple[datetime, datetime | None]] = [
            (w.start, w.end) for w in self._running.values() if w.dataset == dataset]
        later = self._later[dataset][self._started]
        return coming if later is None else [*coming, (later, None)]


def windows_in_flight(http: HttpClient) -> int:
    sequential = fixed_concurrency(http.settings.effective_budget) == 1
    return SEQUENTIAL_WINDOWS_IN_FLIGHT if sequential else WINDOWS_IN_FLIGHT


def run_source(source: Source, http: HttpClient, normalizer: Normalizer, windows: Sequence[Window],
               sinks: Sequence[Sink], on_window: ProgressCallback | None, stop: threading.Event) -> SourceResult:
    """Fetch and store ``windows``, a few at a time (see :func:`windows_in_flight`), and return their
    outcomes in plan order. A window that fails is reported and the others go on; after a refused key
    or a spent quota the windows not yet started are skipped; once ``stop`` is set they are left for
    the next run. A sink's :class:`StorageError` is raised once the windows under way have ended: a
    flush may hold other windows' rows too, so the run stops rather than misreport them."""
    with WindowStore(normalizer, sinks) as store:
        return _run_windows(_WindowFetcher(source, http, store), windows, on_window, stop)


def _run_windows(fetcher: _WindowFetcher, windows: Sequence[Window], on_window: ProgressCallback | None,
                 stop: threading.Event) -> SourceResult:
    order = {window: i for i, window in enumerate(windows)}
    unended = _Unended(windows)
    result = SourceResult()
    storage_error: StorageError | None = None

    def record(outcome: WindowOutcome) -> None:
        if outcome.status is WindowStatus.OK and outcome.rows == 0:
            outcome.status = WindowStatus.EMPTY
        result.windows.append(outcome)
        fetcher.store.expect(outcome.spec.dataset, unended.end(order[outcome.spec]))
        if on_window:
            on_window(outcome)

    def not_started(window: Window) -> WindowOutcome | None:
        """The outcome of a window that is not to be fetched, or None to fetch it."""
        reason = storage_error or fetcher.abort
        if stop.is_set():
            return WindowOutcome(window, WindowStatus.INTERRUPTED,
                                 error="stopped before this window; the next run resumes it")
        if reason is not None:
            return WindowOutcome(window, WindowStatus.SKIPPED, error=f"not attempted after: {redact(str(reason))}")
        return None

    queue, slots = iter(windows), windows_in_flight(fetcher.http)
    running: set[Future[WindowOutcome]] = set()
    with ThreadPoolExecutor(slots, thread_name_prefix=f"energy-{fetcher.source.name}") as pool:
        while True:
            while len(running) < slots:
                window = next(queue, None)
                if window is None:
                    break
                unended.start(order[window])
                skipped = not_started(window)
                if skipped is not None:
                    record(skipped)
                else:
                    running.add(pool.submit(fetcher.fetch, window))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                storage_error = storage_error or fetcher.storage_error
                record(outcome)
    result.windows.sort(key=lambda outcome: order[outcome.spec])
    result.series_rows, result.warnings = fetcher.series_rows, fetcher.warnings
    if storage_error is not None:
        raise storage_error
    return result


class _WindowFetcher:
    """Fetches and stores one window per call, from any number of threads."""

    def __init__(self, source: Source, http: HttpClient, store: WindowStore) -> None:
        self.source, self.http, self.store = source, http, store
        self.series_rows: Counter[tuple[str, str, str]] = Counter()
        self.warnings: list[str] = []
        self.abort: EnergyError | None = None
        self.storage_error: StorageError | None = None
        self._lock = threading.Lock()

    def fetch(self, window: Window) -> WindowOutcome:
        outcome = WindowOutcome(window, WindowStatus.OK)
        began = time.monotonic()
        with self.http.recording() as made:
            try:
                for batch in self.source.fetch(window):
                    outcome.retrieved_at.append(batch.retrieved_at)
                    counts = self.store.store(batch)
                    with self._lock:
                        self.warnings.extend(redact(f"{self.source.name}: {window.describe()}: {w}")
                                             for w in batch.warnings)
                        for dataset, region, series, n in counts.iter_rows():
                            self.series_rows[(dataset, region, series)] += n
                            outcome.rows += n
            except StorageError as exc:
                self._fail(outcome, exc)
                with self._lock:
                    self.storage_error = self.storage_error or exc
            except _ABORT_SOURCE as exc:
                with self._lock:
                    first, self.abort = self.abort is None, self.abort or exc
                if first:
                    self._fail(outcome, exc)
                else:  # under way when another window found the key refused or the quota spent
                    outcome.status = WindowStatus.SKIPPED
                    outcome.error = f"not attempted after: {redact(str(self.abort))}"
            except EnergyError as exc:
                self._fail(outcome, exc)
        outcome.requests = [r.describe() for r in made]
        outcome.from_cache = bool(made) and all(r.answer is Answer.CACHE for r in made)
        outcome.seconds = round(time.monotonic() - began, 3)
        return outcome

    def _fail(self, outcome: WindowOutcome, error: EnergyError) -> None:
        outcome.status, outcome.error = WindowStatus.FAILED, redact(str(error))
        logger.error("%s %s failed: %s", self.source.name, outcome.window, error)
