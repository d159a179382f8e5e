"""``energy train --tracker wandb`` in W&B's offline mode, read back with W&B's own reader of its run
files (``wandb leet inspect --json``), field by field against the local record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from energy_core.storage.training_runs import TrainingRuns
from tests.processes import energy

FLAGS = ["--entity", "PACW", "--seq-len", "72", "--stride", "12", "--epochs", "2", "--d-model", "16", "--heads", "2",
         "--layers", "1"]
FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"


def records(run_dir: Path) -> list[dict]:
    """Every record of a W&B run's transaction log, as W&B itself reads it."""
    inspected = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_dir)],
                               capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in inspected.stdout.splitlines()]


def of(logged: list[dict], kind: str) -> list[dict]:
    return [record[kind] for record in logged if record["type"] == kind]


def test_a_run_and_its_test_scores_are_logged_to_wandb_offline(home, wandb_env, tmp_path):
    env = {**wandb_env, "WANDB_MODE": "offline", "WANDB_API_KEY": FAKE_KEY}
    trained = energy("train", *FLAGS, "--tracker", "wandb", home=home, env=env)
    assert trained.returncode == 0, trained.stderr
    assert "failed" not in trained.stderr, trained.stderr
    run_id = json.loads(trained.stdout.splitlines()[-1])["run_id"]
    evaluated = energy("evaluate", "--entity", "PACW", "--json", "--plot", str(tmp_path / "test.png"), home=home,
                       env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    record = TrainingRuns(home).find(run_id)
    assert record["trackers"] == {"wandb": f"energy-tests/{run_id}"}

    training, evaluation = sorted((tmp_path / "wandb" / "wandb").glob(f"offline-run-*-{run_id}"))
    logged = records(training)
    (started,) = of(logged, "run")
    assert (started["run_id"], started["project"], started["run_group"]) == (run_id, "energy-tests", "PACW")
    config = started["config"]["update"]
    assert config["train"] == record["config"]
    data = record["data"]
    for key in ("entity", "build", "table_version", "digest", "feature_store", "rows", "first_ts", "last_ts",
                "target", "splits"):
        assert config["data"][key] == data[key], key
    assert config["data"]["ingest_runs"] == data["ingest_runs"] and data["ingest_runs"]
    assert all(run["command"].startswith("run eia") for run in config["data"]["ingest_runs"])
    assert config["code"]["packages"]["energy-wandb"] == record["code"]["packages"]["energy-wandb"]
    assert config["code"]["git_commit"] == record["code"]["git_commit"]

    history = [entry["item"] for entry in of(logged, "history")]
    steps = [item for item in history if "train/loss" in item]
    local_steps = TrainingRuns(home).steps("PACW", run_id)
    assert [item["train/loss"] for item in steps] == [step["loss"] for step in local_steps]
    assert [item["train/learning_rate"] for item in steps] == [step["learning_rate"] for step in local_steps]
    epochs = [item for item in history if "epoch/val_loss" in item]
    assert [(item["epoch"], item["epoch/train_loss"], item["epoch/val_loss"]) for item in epochs] == [
        (epoch["epoch"], epoch["train_loss"], epoch["val_loss"]) for epoch in record["epochs"]]
    summary = {}
    for update in of(logged, "summary"):
        summary |= update.get("update", {})
    assert summary["best_val_loss"] == record["best_val_loss"]
    val = record["evaluations"]["val"]
    for name, key in (("model", "model"), ("same hour yesterday", "same_hour_yesterday"),
                      ("same hour last week", "same_hour_last_week")):
        assert summary[f"val/{key}/mape"] == val["scores"][name]["mape"]
    assert summary["val/best_baseline"] == val["best_baseline"]
    assert list(training.glob("files/media/images/val/forecasts_*.png"))
    (artifact,) = of(logged, "artifact")
    assert artifact["type"] == "model" and artifact["name"] == "model-PACW"
    assert {entry["path"] for entry in artifact["manifest"]["contents"]} == set(record["model"]["files"])
    assert json.loads(artifact["metadata"])["energy_run_id"] == run_id
    assert of(logged, "exit")[0].get("exit_code", 0) == 0

    reopened = records(evaluation)  # `energy evaluate` resumed the run
    assert of(reopened, "run")[0]["run_id"] == run_id and of(reopened, "run")[0]["resume"]
    scores = {}
    for update in of(reopened, "summary"):
        scores |= update.get("update", {})
    assert scores["test/model/mape"] == json.loads(evaluated.stdout)["model"]["mape"]
    assert list(evaluation.glob("files/media/images/test/forecasts_*.png"))

    written = [p for p in tmp_path.rglob("*") if p.is_file()] + [p for p in home.rglob("*") if p.is_file()]
    assert not [p for p in written if FAKE_KEY.encode() in p.read_bytes()]  # the key never reaches disk


def test_wandb_refusing_the_run_warns_once_and_the_training_goes_on(home, wandb_env):
    env = {**wandb_env, "WANDB_MODE": "online", "WANDB_BASE_URL": "http://127.0.0.1:9"}  # no key, nothing listening
    trained = energy("train", *FLAGS, "--tracker", "wandb", home=home, env=env)
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr.count("tracker 'wandb' failed") == 1, trained.stderr
    run_id = json.loads(trained.stdout.splitlines()[-1])["run_id"]
    record = TrainingRuns(home).find(run_id)
    assert record["status"] == "finished" and record["trackers"] == {} and len(record["epochs"]) == 2
