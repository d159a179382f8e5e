"""Training runs side by side: each one's data version, the settings that differ between them, and
their scores against the baselines, so a change that helped shows without opening a tracker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energy_core.home import Home
from energy_core.storage.training_runs import TrainingRuns, crashed

CRASHED = "crashed"
"""Shown for a run recorded as running whose process is gone."""


@dataclass(frozen=True)
class Comparison:
    differing: list[str]
    """The configuration keys whose values are not the same in every run listed."""
    runs: list[dict[str, Any]]
    """Per run, oldest first: its id, entity, status, epochs, data and code versions, full configuration,
    ``changes`` (the differing keys' values), best validation loss, each epoch's metrics (``history``) and
    evaluations."""


def compare(home: Home | Path | str, runs: Sequence[str] = (), entities: tuple[str, ...] = (),
            last: int | None = None) -> Comparison:
    """The runs named (ids or unique prefixes), else the ``last`` recorded (of ``entities``, when given)."""
    store = TrainingRuns(home)
    if runs:
        records = sorted({(r := store.find(run))["run_id"]: r for run in runs}.values(), key=lambda r: r["run_id"])
    else:
        records = store.records(entities)
        records = records[-last:] if last else records
    return side_by_side(records)


def side_by_side(records: Sequence[Mapping[str, Any]]) -> Comparison:
    configs = [{k: v for k, v in record["config"].items() if k != "entity"} for record in records]
    keys = sorted({key for config in configs for key in config})
    differing = [key for key in keys if len({repr(config.get(key)) for config in configs}) > 1]
    return Comparison(differing, [_row(record, config, differing) for record, config in zip(records, configs,
                                                                                              strict=True)])


def _row(record: Mapping[str, Any], config: Mapping[str, Any], differing: list[str]) -> dict[str, Any]:
    data, code = record["data"], record["code"]
    return {
        "run_id": record["run_id"], "entity": record["entity"],
        "status": CRASHED if crashed(record) else record["status"],
        "started_at": record["started_at"], "finished_at": record["finished_at"], "replay_of": record["replay_of"],
        "epochs": len(record["epochs"]), "planned_epochs": config.get("epochs"),
        "data": {"build": data["build"], "table_version": data["table_version"], "digest": data["digest"],
                 "rows": data["rows"], "first_ts": data["first_ts"], "last_ts": data["last_ts"],
                 "ingest_runs": [run["run_id"] for run in data["ingest_runs"]]},
        "code": {"energy-core": code["packages"].get("energy-core"), "git_commit": code["git_commit"],
                 "git_dirty": code["git_dirty"]},
        "changes": {key: config.get(key) for key in differing},
        "config": dict(record["config"]),
        "best_epoch": record["best_epoch"], "best_val_loss": record["best_val_loss"], "history": record["epochs"],
        "evaluations": dict(record["evaluations"]),
        "trackers": record["trackers"], "model_dir": record["model_dir"],
    }
