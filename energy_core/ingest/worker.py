"""One source's thread: fetch window after window, while a background thread normalizes, validates and
stores the previous one."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from energy_core.crash_points import fault_point
from energy_core.errors import AuthError, EnergyError, QuotaExhaustedError, StorageError
from energy_core.ingest.client import Answer, HttpClient
from energy_core.ingest.redaction import redact
from energy_core.ingest.report import WindowOutcome, WindowStatus
from energy_core.plugin.interfaces import Normalizer, RawBatch, Sink, Source, Window
from energy_core.storage.schema import validate_observations

logger = logging.getLogger(__name__)

_ABORT_SOURCE = (AuthError, QuotaExhaustedError)
"""After these, every further request of the source would fail the same way."""

ProgressCallback = Callable[[WindowOutcome], None]


@dataclass
class SourceResult:
    """What one source's thread produced; merged into the report in source order."""

    windows: list[WindowOutcome] = field(default_factory=list)
    series_rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


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
        self.storage_error: StorageError | None = None
        """A sink failed: the run stops, since a flush may hold earlier windows' rows too."""

    def submit(self, batch: RawBatch, outcome: WindowOutcome) -> None:
        """Settle the batch in flight, then start storing ``batch``."""
        self.wait()
        if outcome.status is not WindowStatus.FAILED:
            self._pending = (outcome, self._pool.submit(self._store, batch))

    def wait(self) -> None:
        """Block until the batch in flight is stored and its outcome updated."""
        if self._pending is None:
            return
        (outcome, future), self._pending = self._pending, None
        try:
            counts = future.result()
        except StorageError as exc:  # a flush may hold earlier windows' rows too: stop rather than misreport them
            outcome.status, outcome.error = WindowStatus.FAILED, redact(str(exc))
            self.storage_error = exc
            raise
        except EnergyError as exc:
            outcome.status, outcome.error = WindowStatus.FAILED, redact(str(exc))
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


def run_source(source: Source, http: HttpClient, normalizer: Normalizer, windows: Sequence[Window],
               sinks: Sequence[Sink], on_window: ProgressCallback | None, stop: threading.Event) -> SourceResult:
    """Fetch window after window; each window's store overlaps the next window's fetch. ``http`` is the
    source's client, whose history tells which requests each window made."""
    result = SourceResult()
    writer = BatchWriter(normalizer, sinks, result)
    unrecorded: WindowOutcome | None = None  # fetched, but its last batch may still be storing

    def record(outcome: WindowOutcome) -> None:
        if outcome.status is WindowStatus.OK and outcome.rows == 0:
            outcome.status = WindowStatus.EMPTY
        result.windows.append(outcome)
        if on_window:
            on_window(outcome)

    abort: EnergyError | None = None
    try:
        for window in windows:
            outcome = WindowOutcome(window, WindowStatus.OK)
            if stop.is_set():
                outcome.status = WindowStatus.INTERRUPTED
                outcome.error = "stopped before this window; the next run resumes it"
            elif abort is not None:
                outcome.status, outcome.error = WindowStatus.SKIPPED, f"not attempted after: {abort}"
            else:
                began, first_request = time.monotonic(), len(http.history)
                try:
                    for batch in source.fetch(window):
                        outcome.retrieved_at.append(batch.retrieved_at)
                        result.warnings.extend(redact(f"{source.name}: {window.describe()}: {w}")
                                               for w in batch.warnings)
                        writer.submit(batch, outcome)
                        if unrecorded is not None:  # submit() settled it
                            record(unrecorded)
                            unrecorded = None
                except EnergyError as exc:
                    if exc is writer.storage_error:  # the batch in flight failed to store, not this fetch
                        raise
                    outcome.status, outcome.error = WindowStatus.FAILED, redact(str(exc))
                    logger.error("%s %s failed: %s", source.name, window.describe(), exc)
                    if isinstance(exc, _ABORT_SOURCE):
                        abort = exc
                made = http.history[first_request:]
                outcome.requests = [r.describe() for r in made]
                outcome.from_cache = bool(made) and all(r.answer is Answer.CACHE for r in made)
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


