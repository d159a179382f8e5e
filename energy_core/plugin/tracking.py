"""The tracker contract: what a training run tells every tracker, and the :class:`Tracker` base.

A tracker (the built-in local record, Weights & Biases, MLflow, ...) hears of a training run as it
happens: :meth:`Tracker.start` with the run's configuration, data version and code version, then per
step and per epoch metrics, evaluations against the baselines (with the forecast plot), the model
files, and :meth:`Tracker.finish`. ``energy evaluate`` reopens a finished run (``RunPhase.EVALUATE``)
to add its test scores. Everything here is a plain value, so a plugin needs no ML library to read it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


class RunPhase(enum.StrEnum):
    """Why a tracker is started."""

    TRAIN = "train"
    """A new training run."""
    RESUME = "resume"
    """``energy train --resume``: the run goes on from its last checkpoint, under the same id."""
    EVALUATE = "evaluate"
    """``energy evaluate`` adds scores to a run that has ended: no steps or epochs follow."""


class TrainingStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    """Stopped by Ctrl-C or a signal; ``energy train --resume`` continues it."""


@dataclass(frozen=True)
class IngestRun:
    """An ingest run behind a feature-store build, as the catalog recorded it (None where it did not)."""

    run_id: str
    command: str | None = None
    status: str | None = None
    finished_at: str | None = None
    rows_stored: int | None = None


@dataclass(frozen=True)
class DataVersion:
    """Exactly the data a run trained on: one feature-store build, read at one LanceDB table version."""

    entity: str
    build: int
    table_version: int
    """The LanceDB version of the entity's table; replay opens it again (time travel)."""
    feature_store: str
    """Where the feature store lives (a folder or any LanceDB URI)."""
    built_at: str
    target: str
    features: tuple[str, ...]
    splits: Mapping[str, str]
    """``val_start`` and ``test_start``, ISO UTC."""
    stats: Mapping[str, tuple[float, float]]
    """Feature -> (mean, std) over the training period: the normalization the model saw."""
    rows: int
    changed_rows: int
    first_ts: str
    last_ts: str
    ingest_runs: tuple[IngestRun, ...]
    digest: str
    """SHA-256 of the hours, values and masks read: replay refuses data that differs from it."""


@dataclass(frozen=True)
class CodeVersion:
    packages: Mapping[str, str]
    """Distribution -> version: energy-core, every installed energy plugin, MLX."""
    git_commit: str | None
    """The commit energy-core runs from, when it runs from a git checkout."""
    git_dirty: bool | None
    """Whether that checkout has uncommitted changes to tracked files."""
    python: str


@dataclass(frozen=True)
class TrainingRun:
    """What a tracker is started with."""

    run_id: str
    entity: str
    phase: RunPhase
    config: Mapping[str, Any]
    """The training configuration (``TrainConfig``'s fields)."""
    data: DataVersion
    code: CodeVersion
    model_dir: Path
    """The checkpoint folder."""
    started_at: str
    command: str | None = None
    """The command line, when the run came from ``energy train``."""
    replay_of: str | None = None
    """The run this one replays (``energy train --from-run``)."""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Settings a replay changed from the run it replays."""

    @property
    def name(self) -> str:
        """A display name: the entity and the run id."""
        return f"{self.entity} {self.run_id}"


@dataclass(frozen=True)
class StepMetrics:
    step: int
    """Optimizer steps so far, counted over the whole run."""
    epoch: int
    """The epoch the step belongs to, from 1."""
    loss: float
    learning_rate: float


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    step: int
    train_loss: float
    val_loss: float
    """Masked MSE of the normalized target on the validation windows (NaN when there are none)."""
    learning_rate: float
    seconds: float
    best: bool
    """The lowest validation loss so far: ``best.safetensors`` holds these weights."""


@dataclass(frozen=True)
class Score:
    mae: float
    rmse: float
    mape: float
    """Percent."""
    hours: int


@dataclass(frozen=True)
class Evaluation:
    """Scores of 24-hour forecasts over a held-out split, the model's beside the seasonal-naive baselines'."""

    split: str
    scores: Mapping[str, Score]
    """``"model"`` and each baseline (``"same hour yesterday"``, ``"same hour last week"``)."""
    best_baseline: str
    gain: float | None
    """How much lower the model's MAPE is than the better baseline's, in percent of it (negative: worse;
    None where it has no finite value)."""
    plot: Path | None = None
    """A PNG of the forecasts against the actuals and the baselines, when one was drawn."""
    build: int | None = None
    """The feature-store build scored (``energy evaluate`` scores the latest, which may be newer than the
    run's data version)."""
    table_version: int | None = None


@dataclass(frozen=True)
class ModelFiles:
    folder: Path
    files: tuple[Path, ...]
    """Weights (last and best), optimizer state, ``checkpoint.json`` and ``metrics.jsonl``."""
    best_epoch: int


@dataclass(frozen=True)
class RunOutcome:
    status: TrainingStatus
    epochs: int
    best_epoch: int
    best_val_loss: float | None
    error: str | None = None


class Tracker(ABC):
    """Receives one training run. ``energy train --tracker NAME`` makes one with no arguments, so a
    tracker reads its own settings from the environment (declare them with ``register_settings``).

    A tracker that raises is warned about once and dropped for the rest of the run: it never fails the
    training. A tracker need not be thread-safe; it is called from the training loop.
    """

    name: ClassVar[str]
    """What ``--tracker`` and ``[train] trackers`` call it, e.g. ``"wandb"``."""

    @abstractmethod
    def start(self, run: TrainingRun) -> str | None:
        """Open (or, for ``RESUME`` and ``EVALUATE``, reopen) the run; return where it can be found (a
        run id or path, never a credential), which the local record keeps, or None."""

    @abstractmethod
    def log_step(self, step: StepMetrics) -> None:
        """After each optimizer step."""

    @abstractmethod
    def log_epoch(self, epoch: EpochMetrics) -> None:
        """After each epoch's validation and checkpoint."""

    @abstractmethod
    def log_evaluation(self, evaluation: Evaluation) -> None: ...

    @abstractmethod
    def log_model(self, model: ModelFiles) -> None:
        """The checkpoint once training has ended: keep the files as an artifact."""

    @abstractmethod
    def finish(self, outcome: RunOutcome) -> None:
        """Close the run; for ``EVALUATE`` the outcome repeats the recorded one."""
