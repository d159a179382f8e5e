"""Training runs logged to MLflow.

One energy training run is one MLflow run (tag ``energy.run_id``) in the experiment
``$MLFLOW_EXPERIMENT_NAME`` (default ``energy``): params hold the training settings (``train.*``), the
data version (``data.*``: feature-store build, LanceDB version, digest, rows, span) and the code version
(``code.*``, and MLflow's own ``mlflow.source.git.commit`` tag); the whole data version (the ingest runs
behind the build and the normalization statistics included) and code version are the artifacts
``energy/data_version.json`` and ``energy/code_version.json``. Per-step metrics (``train/loss``,
``train/learning_rate``) are sent in one batch per epoch with the epoch's (``epoch/*``, step = epoch);
evaluations are metrics ``<split>/<forecaster>/<mae|rmse|mape|hours>`` with the forecast plot under
``plots/``; the checkpoint files are the artifacts under ``model/``. MLflow reads its own settings
(``MLFLOW_TRACKING_URI`` and the credentials).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

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
    from mlflow import MlflowClient
    from mlflow.entities import Metric

DEFAULT_EXPERIMENT = "energy"
RUN_TAG = "energy.run_id"
BATCH = 1000
"""MLflow takes at most 1,000 metrics in one ``log_batch``."""
STATUS = {TrainingStatus.FINISHED: "FINISHED", TrainingStatus.FAILED: "FAILED", TrainingStatus.INTERRUPTED: "KILLED",
          TrainingStatus.RUNNING: "RUNNING"}


def slug(name: str) -> str:
    """A forecaster's name as a metric key: ``same hour yesterday`` -> ``same_hour_yesterday``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def params_of(run: TrainingRun) -> dict[str, str]:
    data, code = run.data, run.code
    params = {f"train.{key}": str(value) for key, value in run.config.items()}
    params |= {"data.entity": data.entity, "data.build": str(data.build), "data.table_version": str(data.table_version),
               "data.digest": data.digest, "data.rows": str(data.rows), "data.first_ts": data.first_ts,
               "data.last_ts": data.last_ts, "data.target": data.target, "data.features": str(len(data.features)),
               "data.ingest_runs": str(len(data.ingest_runs)), "data.feature_store": data.feature_store}
    params |= {f"code.{package}": version for package, version in code.packages.items()}
    params["code.git_commit"] = code.git_commit or "none"
    params["code.git_dirty"] = str(code.git_dirty)
    return params


class MlflowTracker(Tracker):
    name = "mlflow"

    def __init__(self) -> None:
        self._client: MlflowClient | None = None
        self.run_id = ""
        self._phase = RunPhase.TRAIN
        self._pending: list[Metric] = []

    @property
    def client(self) -> MlflowClient:
        assert self._client is not None, "the tracker was started"
        return self._client

    def start(self, run: TrainingRun) -> str:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        self._client, self._phase = MlflowClient(), run.phase
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        found = [] if run.phase is RunPhase.TRAIN else self.client.search_runs(
            [experiment_id], f"tags.`{RUN_TAG}` = '{run.run_id}'", max_results=1)
        if found:
            self.run_id = found[0].info.run_id
            return f"experiment {name}, run {self.run_id}"
        tags = {RUN_TAG: run.run_id, "energy.entity": run.entity, "energy.replay_of": run.replay_of or "",
                "energy.command": run.command or "", "mlflow.source.git.commit": run.code.git_commit or ""}
        self.run_id = self.client.create_run(experiment_id, run_name=run.name,
                                             tags={k: v for k, v in tags.items() if v}).info.run_id
        params = [Param(key, value) for key, value in params_of(run).items()]
        for i in range(0, len(params), 100):  # the most params one batch takes
            self.client.log_batch(self.run_id, params=params[i: i + 100])
        self.client.log_dict(self.run_id, asdict(run.data), "energy/data_version.json")
        self.client.log_dict(self.run_id, asdict(run.code), "energy/code_version.json")
        return f"experiment {name}, run {self.run_id}"

    def _metric(self, key: str, value: float, step: int) -> None:
        from mlflow.entities import Metric

        self._pending.append(Metric(key, float(value), int(time.time() * 1000), step))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for i in range(0, len(pending), BATCH):
            self.client.log_batch(self.run_id, metrics=pending[i: i + BATCH])

    def log_step(self, step: StepMetrics) -> None:
        self._metric("train/loss", step.loss, step.step)
        self._metric("train/learning_rate", step.learning_rate, step.step)

    def log_epoch(self, epoch: EpochMetrics) -> None:
        for key, value in (("train_loss", epoch.train_loss), ("val_loss", epoch.val_loss),
                           ("learning_rate", epoch.learning_rate), ("seconds", epoch.seconds)):
            self._metric(f"epoch/{key}", value, epoch.epoch)
        if epoch.best:
            self._metric("best_val_loss", epoch.val_loss, epoch.epoch)
            self._metric("best_epoch", epoch.epoch, epoch.epoch)
        self._flush()

    def log_evaluation(self, evaluation: Evaluation) -> None:
        split = evaluation.split
        for name, score in evaluation.scores.items():
            for key, value in asdict(score).items():
                self._metric(f"{split}/{slug(name)}/{key}", value, 0)
        if evaluation.gain is not None:
            self._metric(f"{split}/gain_vs_best_baseline", evaluation.gain, 0)
        self._flush()
        self.client.set_tag(self.run_id, f"{split}.best_baseline", evaluation.best_baseline)
        if evaluation.build is not None:
            self.client.set_tag(self.run_id, f"{split}.data", f"build {evaluation.build}, "
                                f"table version {evaluation.table_version}")
        if evaluation.plot is not None:
            self.client.log_artifact(self.run_id, str(evaluation.plot), "plots")

    def log_model(self, model: ModelFiles) -> None:
        for path in model.files:
            self.client.log_artifact(self.run_id, str(path), "model")

    def finish(self, outcome: RunOutcome) -> None:
        self._flush()
        if self._phase is not RunPhase.EVALUATE:
            self.client.set_terminated(self.run_id, STATUS[outcome.status])
