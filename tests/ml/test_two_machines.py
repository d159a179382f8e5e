"""Two ranks started by hand, exactly as two machines would start them: each process gets its own
``MLX_RANK`` and the same hostfile of ``address:port`` entries (here both on 127.0.0.1), with no
``mlx.launch``; together they train as one process does (docs/distributed.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from energy_core.features import FeatureStore
from energy_core.ml import TrainConfig, train
from energy_core.testing import loopback_hostfile
from tests.homes import forty_days_of_pacw
from tests.processes import child_env, energy_command

SMALL = {"seq_len": 72, "stride": 12, "epochs": 2, "d_model": 16, "n_heads": 2, "n_layers": 1}
OPTIONS = ["--entity", "PACW", "--seq-len", "72", "--stride", "12", "--epochs", "2", "--d-model", "16", "--heads", "2",
           "--layers", "1"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forty_days_of_pacw(tmp_path_factory.mktemp("machines"))


def test_two_machines_started_by_hand_train_as_one_process_does(home: Path, tmp_path: Path) -> None:
    # what every machine of the ring is given: one list of addresses per rank
    hostfile = loopback_hostfile(tmp_path / "hostfile.json", 2)
    machines = [subprocess.Popen(energy_command("train", "--distributed", *OPTIONS, "--model", str(tmp_path / "two")),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                 env=child_env({"ENERGY_HOME": str(home), "MLX_RANK": str(rank),
                                                "MLX_HOSTFILE": str(hostfile)}))
                for rank in (0, 1)]
    one = train(FeatureStore(home), TrainConfig(entity="PACW", **SMALL), tmp_path / "one", progress=lambda _: None)
    outputs = []
    for machine in machines:
        try:
            outputs.append(machine.communicate(timeout=240))
        except subprocess.TimeoutExpired:
            for other in machines:
                os.killpg(other.pid, signal.SIGKILL)
            raise AssertionError("the two ranks did not finish in 240 s") from None
    for machine, (stdout, stderr) in zip(machines, outputs, strict=True):
        assert machine.returncode == 0, stdout + stderr
    assert "on 2 rank(s)" in outputs[0][0]
    two = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert len(two) == len(one.history) == 2
    for a, b in zip(one.history, two, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
