"""Training-run records: the built-in ``local`` tracker, and reading its records back.

Every training run gets a folder in the home, beside its entity's models::

    <home>/models/<entity>/runs/<run_id>/run.json        configuration, data and code versions, epochs,
                                                          evaluations, model files, trackers, outcome
    <home>/models/<entity>/runs/<run_id>/steps.jsonl     one line per optimizer step
    <home>/models/<entity>/runs/<run_id>/<split>_forecasts.png

``run.json`` is rewritten whole after every event (a temporary file, synced, renamed), so a reader
or a crash never sees half of it; a run whose process died while ``running`` reads as crashed. The
records outlive the checkpoints, which the next training of the folder replaces: they are what
``energy runs`` compares and what ``energy train --from-run`` replays.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energy_core.errors import ConfigError, StorageError
from energy_core.home import Home
from energy_core.plugin.tracking import (
    CodeVersion,
    DataVersion,
    EpochMetrics,
    Evaluation,
    IngestRun,
    ModelFiles,
    RunOutcome,
    RunPhase,
    StepMetrics,
    Tracker,
    TrainingRun,
    TrainingStatus,
)

RECORD = "run.json"
STEPS = "steps.jsonl"
FORMAT = 1
"""The version of ``run.json``'s layout."""


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time, unique across processes: ``20260105T093012Z-3fa9c1``."""
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as dicts, paths and enums as text, tuples as lists, and
    NaN or infinite floats as None (strict JSON has no such numbers)."""
    if hasattr(value, "__dataclass_fields__"):
        value = asdict(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


class TrainingRuns:
    """The training-run records of one home."""

    def __init__(self, home: Home | Path | str) -> None:
        self.home = Home.of(home)

    def folder(self, entity: str, run_id: str) -> Path:
        return self.home.model(entity) / "runs" / run_id

    def plot(self, entity: str, run_id: str, split: str) -> Path:
        """Where a run keeps the forecast plot of ``split``."""
        return self.folder(entity, run_id) / f"{split}_forecasts.png"

    def _records(self) -> Iterator[Path]:
        models = self.home.model("_").parent  # the folder holding every entity's model folder
        yield from models.glob(f"*/runs/*/{RECORD}")

    def records(self, entities: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every run's record (of ``entities`` only, when given), oldest first."""
        found = []
        for path in self._records():
            record = _read(path)
            if record is not None and (not entities or record["entity"] in entities):
                found.append(record)
        return sorted(found, key=lambda r: r["run_id"])

    def find(self, run: str) -> dict[str, Any]:
        """The record of run ``run``: its id, or a prefix of one id only."""
        ids = sorted({path.parent.name: path for path in self._records()}.items())
        exact = [path for run_id, path in ids if run_id == run]
        matches = exact or [path for run_id, path in ids if run_id.startswith(run)]
        if len(matches) > 1:
            names = ", ".join(path.parent.name for path in matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise ConfigError(f"{run!r} names {len(matches)} training runs ({names}); give more of the id")
        record = _read(matches[0]) if matches else None
        if record is None:
            close = difflib.get_close_matches(run, [run_id for run_id, _ in ids], n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"no training run {run!r} under {self.home.root}{hint}; `energy runs` lists the "
                              "recorded ones")
        return record

    def write(self, record: Mapping[str, Any]) -> None:
        folder = self.folder(record["entity"], record["run_id"])
        _write_atomically(folder / RECORD, json.dumps(plain(record), indent=2) + "\n")

    def append_steps(self, entity: str, run_id: str, steps: list[StepMetrics]) -> None:
        path = self.folder(entity, run_id) / STEPS
        try:
            with open(path, "a") as fh:
                fh.writelines(json.dumps(plain(step)) + "\n" for step in steps)
        except OSError as exc:
            raise StorageError(f"could not write {path}: {exc.strerror or exc}; check free disk space") from None

    def steps(self, entity: str, run_id: str) -> list[dict[str, Any]]:
        """The run's step metrics in step order; a step taken again after ``--resume`` (its epoch was cut
        short) counts once, as retaken, and a last line cut short by a crash is left out."""
        path = self.folder(entity, run_id) / STEPS
        if not path.exists():
            return []
        steps: dict[int, dict[str, Any]] = {}
        for line in path.read_text().splitlines():
            try:
                step = json.loads(line)
            except json.JSONDecodeError:
                break
            steps[step["step"]] = step
        return [steps[number] for number in sorted(steps)]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # removed meanwhile, or not a record: never half of one, which is written by rename
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write the training record {path}: {exc.strerror or exc}; check free disk "
                           "space and permissions") from None


def crashed(record: Mapping[str, Any]) -> bool:
    """Recorded as running on this machine by a process that no longer exists."""
    if record.get("status") != TrainingStatus.RUNNING or record.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


def training_run(record: Mapping[str, Any], phase: RunPhase) -> TrainingRun:
    """The run a record describes, as trackers receive it."""
    data = dict(record["data"])
    data["ingest_runs"] = tuple(IngestRun(**run) for run in data["ingest_runs"])
    data["features"] = tuple(data["features"])
    data["stats"] = {name: (mean, std) for name, (mean, std) in data["stats"].items()}
    return TrainingRun(run_id=record["run_id"], entity=record["entity"], phase=phase, config=record["config"],
                       data=DataVersion(**data), code=CodeVersion(**record["code"]),
                       model_dir=Path(record["model_dir"]), started_at=record["started_at"],
                       command=record.get("command"), replay_of=record.get("replay_of"),
                       overrides=record.get("overrides") or {})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_KEPT_ON_RESUME = ("started_at", "command", "replay_of", "overrides", "trackers", "epochs", "best_epoch",
                   "best_val_loss", "evaluations", "model", "resumed")
"""What a resumed run keeps of its record; the rest (configuration, data and code) is the resuming process's."""


class LocalTracker(Tracker):
    """The built-in tracker: the run's record in the home, always kept (``energy runs`` and replay read it).

    Unlike a plugin's tracker, its failures are not dropped: a run without its record cannot be
    compared or replayed, as a run without its checkpoint cannot be resumed.
    """

    name = "local"

    def __init__(self, home: Home | Path | str) -> None:
        self.runs = TrainingRuns(home)
        self.record: dict[str, Any] = {}
        self._steps: list[StepMetrics] = []
        self._phase = RunPhase.TRAIN

    def start(self, run: TrainingRun) -> str:
        self._phase = run.phase
        folder = self.runs.folder(run.entity, run.run_id)
        kept = {} if run.phase is RunPhase.TRAIN else _read(folder / RECORD) or {}  # unreadable: begun again
        if run.phase is RunPhase.EVALUATE:
            self.record = kept
        else:
            self.record = {"format": FORMAT, "run_id": run.run_id, "entity": run.entity,
                           "status": TrainingStatus.RUNNING, "started_at": run.started_at, "finished_at": None,
                           "host": socket.gethostname(), "pid": os.getpid(), "command": run.command,
                           "replay_of": run.replay_of, "overrides": dict(run.overrides), "config": dict(run.config),
                           "data": run.data, "code": run.code, "model_dir": run.model_dir, "trackers": {},
                           "epochs": [], "best_epoch": 0, "best_val_loss": None, "evaluations": {}, "model": None,
                           "error": None, "resumed": []}
            self.record |= {key: kept[key] for key in _KEPT_ON_RESUME if key in kept}
            if kept:
                self.record["resumed"].append(datetime.now(UTC).isoformat())
        self.runs.write(self.record)
        return str(folder)

    def note_trackers(self, where: Mapping[str, str | None]) -> None:
        """Remember where the other trackers keep the run (``energy evaluate`` reopens them by name)."""
        self.record["trackers"] = {**self.record["trackers"], **where}
        self.runs.write(self.record)

    def log_step(self, step: StepMetrics) -> None:
        self._steps.append(step)

    def log_epoch(self, epoch: EpochMetrics) -> None:
        self.runs.append_steps(self.record["entity"], self.record["run_id"], self._steps)
        self._steps = []
        kept = [e for e in self.record["epochs"] if e["epoch"] < epoch.epoch]  # a resumed epoch replaces its first try
        self.record["epochs"] = [*kept, plain(epoch)]
        if epoch.best:
            self.record.update(best_epoch=epoch.epoch, best_val_loss=epoch.val_loss)
        self.runs.write(self.record)

    def keep_plot(self, evaluation: Evaluation) -> Evaluation:
        """The evaluation with its plot copied into the run's folder (``<split>_forecasts.png``)."""
        if evaluation.plot is None:
            return evaluation
        kept = self.runs.plot(self.record["entity"], self.record["run_id"], evaluation.split)
        if evaluation.plot.resolve() != kept.resolve():
            shutil.copyfile(evaluation.plot, kept)
        return replace(evaluation, plot=kept)

    def log_evaluation(self, evaluation: Evaluation) -> None:
        entry = plain(self.keep_plot(evaluation)) | {"evaluated_at": datetime.now(UTC).isoformat()}
        self.record["evaluations"] = {**self.record["evaluations"], evaluation.split: entry}
        self.runs.write(self.record)

    def log_model(self, model: ModelFiles) -> None:
        self.record["model"] = {"folder": str(model.folder), "best_epoch": model.best_epoch,
                                "files": {path.name: sha256(path) for path in model.files}}
        self.runs.write(self.record)

    def finish(self, outcome: RunOutcome) -> None:
        if self._steps:
            self.runs.append_steps(self.record["entity"], self.record["run_id"], self._steps)
            self._steps = []
        if self._phase is not RunPhase.EVALUATE:
            self.record.update(status=outcome.status, finished_at=datetime.now(UTC).isoformat(), error=outcome.error)
        self.runs.write(self.record)
