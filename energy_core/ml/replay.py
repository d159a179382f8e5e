"""Replaying a recorded training run: its configuration and seed, on the very data it trained on.

The data is the run's feature-store build, read at the LanceDB table version the build wrote (time
travel), and checked against the digest the run recorded. When that version is gone (cleaned up by a
compaction, or the feature store was deleted or rebuilt from nothing) the replay is refused before it
trains: other data would give other losses under the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from energy_core.errors import ConfigError
from energy_core.features import BuildInfo, FeatureStore
from energy_core.features.store import Arrays
from energy_core.home import Home
from energy_core.ml.provenance import digest
from energy_core.ml.train import TrainConfig
from energy_core.plugin.tracking import DataVersion, RunPhase
from energy_core.storage.training_runs import training_run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replay:
    run_id: str
    config: TrainConfig
    data: DataVersion


def replay_of(record: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Replay:
    """What re-running ``record`` takes: its configuration (with ``overrides``) and its data version."""
    known = {f.name for f in fields(TrainConfig)}
    recorded = dict(record["config"])
    dropped = sorted(set(recorded) - known)
    if dropped:
        logger.warning("run %s recorded settings this version of energy does not have, left out: %s",
                       record["run_id"], ", ".join(dropped))
    if (overrides or {}).get("entity", record["entity"]) != record["entity"]:
        raise ConfigError(f"run {record['run_id']} trained {record['entity']}: its data version is that entity's, so "
                          "a replay cannot change the entity")
    unknown = sorted(set(overrides or {}) - known)
    if unknown:
        raise ConfigError(f"cannot change {', '.join(unknown)} of a replayed run; it takes {', '.join(sorted(known))}")
    settings = {k: v for k, v in recorded.items() if k in known} | dict(overrides or {})
    return Replay(record["run_id"], TrainConfig(**settings), training_run(record, RunPhase.TRAIN).data)


class PinnedStore(FeatureStore):
    """A feature store that serves one entity at a recorded data version instead of its latest build."""

    def __init__(self, home: Home | Path | str, replay: Replay) -> None:
        super().__init__(home)
        self.replay = replay
        data = replay.data
        self.pinned = BuildInfo(entity=data.entity, build=data.build, built_at=data.built_at,
                                table_version=data.table_version, features=list(data.features),
                                stats={name: list(pair) for name, pair in data.stats.items()}, splits=dict(data.splits),
                                runs=[run.run_id for run in data.ingest_runs], rows=data.rows,
                                changed_rows=data.changed_rows, first_ts=data.first_ts, last_ts=data.last_ts,
                                target=data.target)
        self._checked = False

    def latest(self, entity: str) -> BuildInfo:
        return self.pinned if entity == self.pinned.entity else super().latest(entity)

    def arrays(self, entity: str) -> Arrays:
        if entity != self.pinned.entity:
            return super().arrays(entity)
        data, run = self.replay.data, self.replay.run_id
        what = f"run {run} trained on {data.entity} build {data.build}, LanceDB table version {data.table_version}"
        try:
            arrays = super().arrays(entity)
        except Exception as exc:  # LanceDB says it in several ways: no table, no such version, files gone
            raise ConfigError(f"cannot replay: {what}, which {self.uri} no longer holds ({type(exc).__name__}: "
                              f"{exc}); a compaction or cleanup removed it, or the feature store was rebuilt from "
                              f"nothing. Train on today's data instead: {retrain_hint(self.replay.config)}") from None
        if not self._checked:
            if digest(*arrays[1:]) != data.digest:
                raise ConfigError(f"cannot replay: {what}, but that version of {self.uri} now holds other data (the "
                                  "feature store was deleted and rebuilt, so its versions were numbered again). Train "
                                  f"on today's data instead: {retrain_hint(self.replay.config)}")
            self._checked = True
        return arrays


FLAGS = {"seq_len": "--seq-len", "stride": "--stride", "horizon": "--horizon", "batch_size": "--batch-size",
         "epochs": "--epochs", "learning_rate": "--lr", "warmup_steps": "--warmup", "d_model": "--d-model",
         "n_heads": "--heads", "n_layers": "--layers", "seed": "--seed", "fault_sigmas": "--fault-sigmas"}
"""``TrainConfig`` field -> the ``energy train`` flag that sets it."""
SWITCHES = {"relative_loss": "--relative-loss", "point_in_time": "--point-in-time"}
"""``TrainConfig`` switch -> the ``energy train`` flag that turns it on."""


def retrain_hint(config: TrainConfig) -> str:
    """The ``energy train`` command with a run's settings (a replayed run's, to train on the latest build)."""
    flags = [f"{flag} {getattr(config, name) if getattr(config, name) is not None else 0}"
             for name, flag in FLAGS.items()]
    flags += [flag for name, flag in SWITCHES.items() if getattr(config, name)]
    return f"energy train --entity {config.entity} {' '.join(flags)}"
