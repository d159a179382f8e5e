"""The trackers of a training run: found by name through ``register_trackers``, and fanned out to.

:class:`RunLog` tells every tracker each event of one run: first the built-in local record, then the
plugins' trackers. A plugin's tracker that raises (no network, a bad key, a full disk) is warned about
once, naming it, and dropped for the rest of the run; the training never fails because of one.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import pluggy

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.ingest.redaction import redact
from energy_core.plugin.registry import ComponentTable
from energy_core.plugin.tracking import (
    CodeVersion,
    DataVersion,
    EpochMetrics,
    Evaluation,
    ModelFiles,
    RunOutcome,
    RunPhase,
    Score,
    StepMetrics,
    Tracker,
    TrainingRun,
    TrainingStatus,
)
from energy_core.storage.training_runs import RECORD, LocalTracker, TrainingRuns, new_run_id, training_run

if TYPE_CHECKING:
    from energy_core.features import BuildInfo

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.json"


def tracker_table(pm: pluggy.PluginManager) -> ComponentTable[Tracker]:
    """Every tracker by name: the built-in ``local`` and those the plugins register."""
    table: ComponentTable[Tracker] = ComponentTable("tracker")
    table.add(LocalTracker, "energy-core")
    for impl in pm.hook.register_trackers.get_hookimpls():
        for tracker in cast("list[type[Tracker]]", impl.function() or []):
            table.add(tracker, impl.plugin_name)
    return table


def tracker_classes(pm: pluggy.PluginManager, names: Iterable[str]) -> list[type[Tracker]]:
    """The trackers named (an unknown name is refused with the known ones), less ``local``: the local
    record is always kept."""
    table = tracker_table(pm)
    chosen = [table.get(name) for name in dict.fromkeys(names)]
    return [tracker for tracker in chosen if tracker is not LocalTracker]


def _made(tracker: Tracker | type[Tracker]) -> Tracker:
    return tracker() if isinstance(tracker, type) else tracker


def _safe(error: BaseException) -> str:
    """An error's text without credentials: secrets the command knows, and any ``user:password@`` in a URL."""
    return re.sub(r"://[^/\s@]+@", "://***@", redact(f"{type(error).__name__}: {error}"))


class RunLog:
    """The events of one training run, told to the local record and to each tracker.

    Use it as a context manager around the training: leaving the block finishes the run (finished, or
    failed or interrupted when an exception leaves it). ``trackers`` are classes (made when the run
    starts) or ready instances.
    """

    def __init__(self, home: Home | Path | str, trackers: Sequence[Tracker | type[Tracker]] = (), *,
                 command: str | None = None, replay_of: str | None = None,
                 overrides: Mapping[str, Any] | None = None) -> None:
        self.home = Home.of(home)
        self.local = LocalTracker(self.home)
        self._pending = list(trackers)
        self.trackers: list[Tracker] = []
        self.command, self.replay_of, self.overrides = command, replay_of, dict(overrides or {})
        self.run: TrainingRun | None = None
        self._epochs = 0
        self._best: tuple[int, float | None] = (0, None)
        self._finished = False
        self._recorded: RunOutcome | None = None
        """A reopened run's outcome, which adding scores leaves as it was."""

    # -- the run -----------------------------------------------------------------------------------

    def start(self, *, run_id: str | None, phase: RunPhase, config: Mapping[str, Any], data: DataVersion,
              code: CodeVersion, model_dir: Path) -> TrainingRun:
        """Open the run in every tracker; ``run_id`` None starts a new one."""
        self.run = TrainingRun(run_id=run_id or new_run_id(), entity=data.entity, phase=phase, config=dict(config),
                               data=data, code=code, model_dir=model_dir.resolve(),
                               started_at=datetime.now(UTC).isoformat(), command=self.command,
                               replay_of=self.replay_of, overrides=self.overrides)
        self._open(self.run)
        return self.run

    def _open(self, run: TrainingRun) -> None:
        self.local.start(run)
        where: dict[str, str | None] = {}
        for pending in self._pending:
            made, tracker = self._guarded(pending.name, partial(_made, pending))
            started, place = self._guarded(pending.name, partial(tracker.start, run)) if made else (False, None)
            if started:
                self.trackers.append(tracker)
                where[pending.name] = place
        self._pending = []
        if where:
            self.local.note_trackers(where)

    def step(self, step: StepMetrics) -> None:
        self.local.log_step(step)
        self._each(lambda tracker: tracker.log_step(step))

    def epoch(self, epoch: EpochMetrics) -> None:
        self._epochs = epoch.epoch
        if epoch.best:
            self._best = (epoch.epoch, epoch.val_loss)
        self.local.log_epoch(epoch)
        self._each(lambda tracker: tracker.log_epoch(epoch))

    def resumed(self, epochs: int, best_epoch: int, best_val_loss: float | None) -> None:
        """Where a resumed run stands before its next epoch."""
        self._epochs, self._best = epochs, (best_epoch, best_val_loss)

    def evaluation(self, evaluation: Evaluation) -> None:
        kept = self.local.keep_plot(evaluation)  # every tracker gets the plot under one name: <split>_forecasts.png
        self.local.log_evaluation(kept)
        self._each(lambda tracker: tracker.log_evaluation(kept))

    def model(self, files: ModelFiles) -> None:
        self.local.log_model(files)
        self._each(lambda tracker: tracker.log_model(files))

    def finish(self, status: TrainingStatus, error: str | None = None) -> None:
        if self.run is None or self._finished:
            return
        self._finished = True
        outcome = self._recorded or RunOutcome(status, self._epochs, *self._best, error=error)
        self.local.finish(outcome)
        self._each(lambda tracker: tracker.finish(outcome))

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 _traceback: TracebackType | None) -> None:
        if kind is None:
            self.finish(TrainingStatus.FINISHED)
        elif issubclass(kind, KeyboardInterrupt) or getattr(error, "exit_code", 0) >= 128:  # Ctrl-C, a signal
            self.finish(TrainingStatus.INTERRUPTED, _safe(cast(BaseException, error)))
        else:
            self.finish(TrainingStatus.FAILED, _safe(cast(BaseException, error)))

    # -- one tracker's failure is its own ------------------------------------------------------------

    def _each(self, call: Callable[[Tracker], object]) -> None:
        for tracker in list(self.trackers):
            if not self._guarded(tracker.name, partial(call, tracker))[0]:
                self.trackers.remove(tracker)

    @staticmethod
    def _guarded(name: str, call: Callable[[], Any]) -> tuple[bool, Any]:
        """Whether ``call()`` returned, and what; a failure is warned about (the caller drops the tracker)."""
        try:
            return True, call()
        except Exception as exc:  # a tracker's failure must never stop the training
            logger.warning("tracker %r failed and is left out of the rest of this run (%s); the training goes on "
                           "and the local record keeps everything", name, _safe(exc))
            return False, None

    @classmethod
    def reopen(cls, home: Home | Path | str, checkpoint: Path, table: ComponentTable[Tracker]) -> RunLog | None:
        """The run that wrote ``checkpoint``, reopened in its local record and in the trackers it was logged
        to (``energy evaluate`` adds its scores); None for a checkpoint that names no recorded run."""
        meta = json.loads((checkpoint / CHECKPOINT).read_text())
        run_id = meta.get("state", {}).get("run_id")
        runs = TrainingRuns(home)
        if not run_id or not (runs.folder(meta["feature_store"]["entity"], run_id) / RECORD).exists():
            return None
        try:
            record = runs.find(run_id)
        except ConfigError as exc:  # a record that cannot be read: the scores are still printed
            logger.warning("the scores are not recorded: %s", exc)
            return None
        log = cls(home)
        for name in record.get("trackers", {}):
            try:
                log._pending.append(table.get(name))
            except LookupError as exc:
                logger.warning("tracker %r of run %s is not installed, so these scores stay out of it (%s)", name,
                               run_id, exc)
        log._recorded = RunOutcome(TrainingStatus(record["status"]), len(record["epochs"]), record["best_epoch"],
                                   record["best_val_loss"], record.get("error"))
        log.run = training_run(record, RunPhase.EVALUATE)
        log._open(log.run)
        return log


def evaluation(split: str, scores: Mapping[str, Any], best_baseline: str, gain: float, data: BuildInfo,
               plot: Path | None = None) -> Evaluation:
    """An :class:`Evaluation` of the build ``data`` from :func:`energy_core.ml.evaluate.scores` and
    ``against_best_baseline``."""
    return Evaluation(split, {name: Score(s.mae, s.rmse, s.mape, s.hours) for name, s in scores.items()},
                      best_baseline, gain if math.isfinite(gain) else None, plot, data.build, data.table_version)
