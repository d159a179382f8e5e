"""Training runs logged to Weights & Biases.

One energy training run is one W&B run whose id is the energy run id, grouped by entity: its config
holds the training settings, the data version (feature-store build, LanceDB version, digest, the ingest
runs behind it) and the code version; per-step metrics are plotted against ``train/step`` and per-epoch
ones against ``epoch``; evaluations go to the summary (``<split>/<forecaster>/mape``, ...) with the
forecast plot as an image; the checkpoint is a ``model`` artifact. ``energy evaluate`` resumes the run
to add its test scores. W&B reads its own settings (``WANDB_MODE``, ``WANDB_DIR``, ``WANDB_API_KEY``, ...);
in offline mode ``wandb sync`` uploads the runs later.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from energy_core.api import (
    EpochMetrics,
    Evaluation,
    ModelFiles,
    RunOutcome,
    RunPhase,
    StepMetrics,
    Tracker,
    TrainingRun,
    TrainingStatus,
)

if TYPE_CHECKING:
    from wandb.sdk.wandb_run import Run

DEFAULT_PROJECT = "energy"


def slug(name: str) -> str:
    """A forecaster's name as a metric key: ``same hour yesterday`` -> ``same_hour_yesterday``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def config_of(run: TrainingRun) -> dict[str, Any]:
    """What the W&B config holds: settings, data version and code version."""
    data = asdict(run.data)
    del data["stats"]  # one pair per feature: in the local record, too long for a config table
    return {"train": dict(run.config), "data": data, "code": asdict(run.code),
            "energy": {"run_id": run.run_id, "command": run.command, "replay_of": run.replay_of,
                       "overrides": dict(run.overrides), "model_dir": str(run.model_dir)}}


class WandbTracker(Tracker):
    name = "wandb"

    def __init__(self) -> None:
        self._run: Run | None = None

    @property
    def run(self) -> Run:
        assert self._run is not None, "the tracker was started"
        return self._run

    def start(self, run: TrainingRun) -> str:
        import wandb

        fresh = run.phase is RunPhase.TRAIN
        self._run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT, id=run.run_id, name=run.name,
            group=run.entity, job_type="evaluate" if run.phase is RunPhase.EVALUATE else "train",
            tags=[run.entity, *(["replay"] if run.replay_of else [])], config=config_of(run) if fresh else None,
            resume=None if fresh else "allow", reinit="create_new",
            settings=wandb.Settings(console="off"))  # energy's own output stays energy's
        if fresh:
            self.run.define_metric("train/step")
            self.run.define_metric("train/*", step_metric="train/step")
            self.run.define_metric("epoch")
            self.run.define_metric("epoch/*", step_metric="epoch")
        return f"{self.run.project}/{self.run.id}"

    def log_step(self, step: StepMetrics) -> None:
        self.run.log({"train/step": step.step, "train/epoch": step.epoch, "train/loss": step.loss,
                      "train/learning_rate": step.learning_rate})

    def log_epoch(self, epoch: EpochMetrics) -> None:
        self.run.log({"epoch": epoch.epoch, "epoch/train_loss": epoch.train_loss, "epoch/val_loss": epoch.val_loss,
                      "epoch/learning_rate": epoch.learning_rate, "epoch/seconds": epoch.seconds,
                      "epoch/step": epoch.step})
        if epoch.best:
            self.run.summary.update({"best_epoch": epoch.epoch, "best_val_loss": epoch.val_loss})

    def log_evaluation(self, evaluation: Evaluation) -> None:
        import wandb

        split = evaluation.split
        summary: dict[str, Any] = {f"{split}/best_baseline": evaluation.best_baseline,
                                   f"{split}/gain_vs_best_baseline": evaluation.gain,
                                   f"{split}/build": evaluation.build,
                                   f"{split}/table_version": evaluation.table_version}
        for name, score in evaluation.scores.items():
            summary |= {f"{split}/{slug(name)}/{key}": value for key, value in asdict(score).items()}
        self.run.summary.update(summary)
        if evaluation.plot is not None:
            self.run.log({f"{split}/forecasts": wandb.Image(str(evaluation.plot), caption=f"{split} forecasts")})

    def log_model(self, model: ModelFiles) -> None:
        import wandb

        data = self.run.config["data"]
        artifact = wandb.Artifact(f"model-{slug(data['entity'])}", type="model", metadata={
            "energy_run_id": self.run.id, "best_epoch": model.best_epoch, "build": data["build"],
            "table_version": data["table_version"], "digest": data["digest"]})
        for path in model.files:
            artifact.add_file(str(path), name=path.name)
        self.run.log_artifact(artifact, aliases=["latest", f"run-{self.run.id}"])

    def finish(self, outcome: RunOutcome) -> None:
        self.run.finish(exit_code=0 if outcome.status is TrainingStatus.FINISHED else 1)
