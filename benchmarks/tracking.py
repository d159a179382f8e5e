"""Tracking benchmark: what recording a training run costs the training.

One synthetic entity (hourly demand with daily and weekly cycles) is built through the real path, then
the same training runs four times in one process, each into a fresh model folder:

  none     train() with no run log (the library default)
  local    the local record (`energy train` always keeps it)
  mlflow   the local record and MLflow (a local file store)
  wandb    the local record and Weights & Biases (offline mode)

The time spent inside the run log is measured directly (each call timed), so the figures do not drown
in the training's own variance: opening the run (the first MLflow or W&B start includes importing the
library), per optimizer step, per epoch, the model files and closing the run; beside them the training's
wall time.

    uv run python benchmarks/tracking.py
    uv run python benchmarks/tracking.py --smoke   # 40 days, one epoch; the tests run it

Every run checks that the four trainings gave the same losses (tracking never changes training) and
that each record holds every epoch and step, and exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ENTITY = "PACW"
START = datetime(2022, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Size:
    days: int
    seq_len: int
    epochs: int
    d_model: int


FULL = Size(days=730, seq_len=336, epochs=2, d_model=64)
SMOKE = Size(days=40, seq_len=72, epochs=1, d_model=16)


def build(home: Path, size: Size) -> None:
    import numpy as np
    import polars as pl

    from energy_core.features import FeatureStore
    from energy_core.storage.lake import Lake
    from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

    hours = np.arange(size.days * 24)
    demand = (2500 + 400 * np.sin(2 * np.pi * hours / 24) - 300 * ((hours // 24) % 7 >= 5)
              + np.random.default_rng(0).normal(0, 30, hours.size))
    Lake(home).upsert(pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in hours], "source": "eia", "dataset": "eia.region",
        "region": ENTITY, "series": "demand", "value": demand.round(), "unit": "MWh", "retrieved_at": START,
    }, schema=POLARS_SCHEMA).select(COLUMNS))
    info = FeatureStore(home).build([ENTITY])[0]
    print(f"built {ENTITY}: {info.rows} hours x {len(info.features)} features", file=sys.stderr)


def timed_log(home: Path, trackers: list[Any]) -> Any:
    """A run log whose every call is timed, by kind."""
    from energy_core.ml import RunLog

    class TimedLog(RunLog):
        def __init__(self) -> None:
            super().__init__(home, trackers)
            self.seconds: dict[str, float] = defaultdict(float)
            self.calls: dict[str, int] = defaultdict(int)

        def _timed(self, kind: str, call: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[kind] += time.perf_counter() - started
                self.calls[kind] += 1

        def start(self, **kwargs: Any) -> Any:
            return self._timed("start", super().start, **kwargs)

        def step(self, step: Any) -> None:
            self._timed("step", super().step, step)

        def epoch(self, epoch: Any) -> None:
            self._timed("epoch", super().epoch, epoch)

        def model(self, files: Any) -> None:
            self._timed("model", super().model, files)

        def finish(self, status: Any, error: str | None = None) -> None:
            self._timed("finish", super().finish, status, error)

    return TimedLog()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny size, for the test suite")
    size = SMOKE if parser.parse_args().smoke else FULL
    with tempfile.TemporaryDirectory(prefix="energy-tracking-") as folder:
        root = Path(folder)
        os.environ.update({  # both trackers kept inside the temporary folder, no network
            "MLFLOW_TRACKING_URI": f"file://{root / 'mlruns'}", "MLFLOW_ALLOW_FILE_STORE": "true",
            "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(root / "wandb"),
            "WANDB_CONFIG_DIR": str(root / "wandb-config"), "WANDB_CACHE_DIR": str(root / "wandb-cache"),
            "WANDB_DATA_DIR": str(root / "wandb-data")})
        (root / "wandb").mkdir()
        home = root / "home"
        build(home, size)
        return measure(home, size)


def measure(home: Path, size: Size) -> int:
    from energy_core.features import FeatureStore
    from energy_core.ml import TrainConfig, tracker_classes, train
    from energy_core.plugin.manager import get_plugin_manager
    from energy_core.storage.training_runs import TrainingRuns

    config = TrainConfig(entity=ENTITY, seq_len=size.seq_len, stride=24, batch_size=8, epochs=size.epochs,
                         d_model=size.d_model, n_heads=4, n_layers=2)
    pm = get_plugin_manager()
    modes = {"none": None, "local": [], "mlflow": tracker_classes(pm, ["mlflow"]),
             "wandb": tracker_classes(pm, ["wandb"])}
    losses, failed = {}, []
    print(f"{'mode':8} {'train s':>8} {'steps':>6} {'start s':>8} {'per step us':>12} {'per epoch ms':>13} "
          f"{'model ms':>9} {'finish ms':>10} {'share':>7}")
    for mode, trackers in modes.items():
        log = None if trackers is None else timed_log(home, trackers)
        started = time.perf_counter()
        if log is None:
            state = train(FeatureStore(home), config, home / "models" / mode, progress=lambda _: None)
        else:
            with log:
                state = train(FeatureStore(home), config, home / "models" / mode, progress=lambda _: None, log=log)
            if len(log.trackers) != len(trackers):
                failed.append(f"{mode}: a tracker failed (see the warning above)")
        seconds = time.perf_counter() - started
        losses[mode] = [(r["train_loss"], r["val_loss"]) for r in state.history]
        if log is None:
            print(f"{mode:8} {seconds:8.2f} {state.step:6d}")
            continue
        record = TrainingRuns(home).find(state.run_id)
        if len(record["epochs"]) != size.epochs or len(TrainingRuns(home).steps(ENTITY, state.run_id)) != state.step:
            failed.append(f"{mode}: the record lacks epochs or steps")
        spent = sum(log.seconds.values()) - log.seconds["start"]
        print(f"{mode:8} {seconds:8.2f} {state.step:6d} {log.seconds['start']:8.2f} "
              f"{1e6 * log.seconds['step'] / max(log.calls['step'], 1):12.0f} "
              f"{1e3 * log.seconds['epoch'] / max(log.calls['epoch'], 1):13.1f} {1e3 * log.seconds['model']:9.1f} "
              f"{1e3 * log.seconds['finish']:10.1f} {100 * spent / (seconds - log.seconds['start']):6.2f}%")
    if any(result != losses["none"] for result in losses.values()):
        failed.append(f"the losses differ between modes: {losses}")
    print("share: time in the run log after it opened, of the training's wall time after it opened")
    if failed:
        print("checks FAILED: " + "; ".join(failed))
        return 1
    print("checks passed: every mode trained to the same losses and every record holds each epoch and step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
