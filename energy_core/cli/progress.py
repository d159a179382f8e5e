"""What ``energy run`` shows while it works. On a terminal, a live table per source (rich) that advances
page by page, with log lines printed above it; elsewhere (a log file, CI), one plain status line on
stderr every few seconds."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

    from energy_core.ingest.planning import Estimate
    from energy_core.ingest.report import WindowOutcome

PLAIN_EVERY_S = 5.0


@dataclass
class _Source:
    plan: Estimate
    windows: int = 0
    rows: int = 0
    failed: int = 0

    @property
    def pages(self) -> int:
        """Requests answered so far, by the service or the raw cache: the unit the display advances by."""
        return self.plan.stats.requests - self.plan.stats.retries + self.plan.stats.cache_hits


class RunProgress:
    """Follows a run's sources: use as a context manager around ``run(on_plan=progress.plan,
    on_window=progress.window)``.

    :param live: draw the live table (default: when ``stream`` is a terminal).
    """

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, every_s: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream or sys.stderr
        self._live_wanted = self._stream.isatty() if live is None else live
        self._every_s = every_s
        self._clock = clock
        self._sources: dict[str, _Source] = {}
        self._started = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._live: Live | None = None
        self._redirected: list[logging.StreamHandler] = []

    def plan(self, estimates: dict[str, Estimate]) -> None:
        with self._lock:
            self._sources = {name: _Source(estimate) for name, estimate in estimates.items()}
            self._started = self._clock()
        if self._sources:
            self._start()

    def window(self, outcome: WindowOutcome) -> None:
        with self._lock:
            source = self._sources[outcome.source]
            source.windows += 1
            source.rows += outcome.rows
            source.failed += not outcome.status.succeeded

    def left(self, name: str) -> float:
        """Seconds the source still needs: the longer of what its budget needs for the calls left and
        what its pace so far needs for the windows left."""
        source = self._sources[name]
        if source.windows >= source.plan.windows:
            return 0.0
        elapsed = self._clock() - self._started
        by_pace = elapsed / source.windows * (source.plan.windows - source.windows) if source.windows else 0.0
        return max(source.plan.seconds - elapsed, by_pace)

    def describe(self, name: str) -> str:
        """One source's progress in words."""
        source, stats = self._sources[name], self._sources[name].plan.stats
        elapsed = max(self._clock() - self._started, 1e-9)
        words = [f"{source.windows}/{source.plan.windows} windows", f"{source.rows:,} rows",
                 f"{stats.requests:,} requests ({stats.requests / elapsed:.1f}/s)"]
        words += [f"{n:,} {what}" for n, what in ((stats.cache_hits, "cached"), (stats.retries, "retried"),
                                                  (stats.throttled, "throttled"), (source.failed, "failed")) if n]
        return f"{name}: {', '.join(words)}, {duration(self.left(name))} left"

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._write_plain()
        if self._live is not None:
            self._live.stop()
            for handler in self._redirected:
                handler.setStream(self._stream)

    def _start(self) -> None:
        if self._live_wanted:
            self._start_live()
        elif self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="energy-progress", daemon=True)
            self._ticker.start()

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        redirect = self._stream is sys.stderr
        self._live = Live(console=Console(file=self._stream), get_renderable=self._table, refresh_per_second=4,
                          redirect_stderr=redirect)
        self._live.start()
        if redirect:  # log lines go above the table (through rich's stand-in for stderr), not into it
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is self._stream:
                    handler.setStream(sys.stderr)
                    self._redirected.append(handler)

    def _table(self) -> Table:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        with self._lock:
            for name, source in self._sources.items():
                total = max(source.plan.calls, source.pages, 1)
                words = self.describe(name).split(": ", 1)[1]
                table.add_row(name, ProgressBar(total=total, completed=source.pages, width=30), words)
        return table

    def _tick(self) -> None:
        while not self._stop.wait(self._every_s):
            self._write_plain()

    def _write_plain(self) -> None:
        with self._lock:
            line = "; ".join(self.describe(name) for name in self._sources)
        if line:
            print(f"progress: {line}", file=self._stream, flush=True)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
