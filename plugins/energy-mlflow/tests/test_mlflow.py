"""``energy train --tracker mlflow`` with a local file store, read back with ``MlflowClient`` field by
field against the local record; and a store that cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from energy_core.storage.training_runs import TrainingRuns
from tests.processes import energy

FLAGS = ["--entity", "PACW", "--seq-len", "72", "--stride", "12", "--epochs", "2", "--d-model", "16", "--heads", "2",
         "--layers", "1"]


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind this switch
    from mlflow import MlflowClient

    return MlflowClient(f"file://{tmp_path / 'mlruns'}")


def test_a_run_and_its_test_scores_are_logged_to_mlflow(home, client, tmp_path):
    env = {"MLFLOW_TRACKING_URI": f"file://{tmp_path / 'mlruns'}", "MLFLOW_ALLOW_FILE_STORE": "true",
           "MLFLOW_EXPERIMENT_NAME": "energy-tests"}
    trained = energy("train", *FLAGS, "--tracker", "mlflow", home=home, env=env)
    assert trained.returncode == 0 and "failed" not in trained.stderr, trained.stderr
    run_id = json.loads(trained.stdout.splitlines()[-1])["run_id"]
    evaluated = energy("evaluate", "--entity", "PACW", "--json", "--plot", str(tmp_path / "test.png"), home=home,
                       env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    record = TrainingRuns(home).find(run_id)

    experiment = client.get_experiment_by_name("energy-tests")
    (logged,) = client.search_runs([experiment.experiment_id], f"tags.`energy.run_id` = '{run_id}'")
    assert record["trackers"] == {"mlflow": f"experiment energy-tests, run {logged.info.run_id}"}
    assert logged.info.status == "FINISHED" and logged.info.run_name == f"PACW {run_id}"
    params, tags = logged.data.params, logged.data.tags
    assert {key.removeprefix("train."): value for key, value in params.items() if key.startswith("train.")} == {
        key: str(value) for key, value in record["config"].items()}
    data, code = record["data"], record["code"]
    for key in ("entity", "build", "table_version", "digest", "rows", "first_ts", "last_ts", "target"):
        assert params[f"data.{key}"] == str(data[key]), key
    assert params["data.ingest_runs"] == str(len(data["ingest_runs"])) and data["ingest_runs"]
    assert params["code.energy-core"] == code["packages"]["energy-core"]
    assert params["code.energy-mlflow"] == code["packages"]["energy-mlflow"]
    assert tags.get("mlflow.source.git.commit") == code["git_commit"]
    downloaded = Path(client.download_artifacts(logged.info.run_id, "energy", str(tmp_path / "got")))
    version = json.loads((downloaded / "data_version.json").read_text())
    assert version["ingest_runs"] == data["ingest_runs"] and version["stats"] == data["stats"]
    assert all(run["command"].startswith("run eia") for run in version["ingest_runs"])
    assert json.loads((downloaded / "code_version.json").read_text()) == code

    history = client.get_metric_history(logged.info.run_id, "train/loss")
    steps = TrainingRuns(home).steps("PACW", run_id)
    assert [(m.step, m.value) for m in history] == [(s["step"], s["loss"]) for s in steps]
    rates = client.get_metric_history(logged.info.run_id, "train/learning_rate")
    assert [m.value for m in rates] == [s["learning_rate"] for s in steps]
    val_losses = client.get_metric_history(logged.info.run_id, "epoch/val_loss")
    assert [(m.step, m.value) for m in val_losses] == [(e["epoch"], e["val_loss"]) for e in record["epochs"]]
    metrics = logged.data.metrics
    assert metrics["best_val_loss"] == record["best_val_loss"]
    for split in ("val", "test"):
        scores = record["evaluations"][split]["scores"]
        assert metrics[f"{split}/model/mape"] == scores["model"]["mape"]
        assert metrics[f"{split}/same_hour_yesterday/rmse"] == scores["same hour yesterday"]["rmse"]
        assert metrics[f"{split}/same_hour_last_week/mae"] == scores["same hour last week"]["mae"]
        assert tags[f"{split}.best_baseline"] == record["evaluations"][split]["best_baseline"]
    assert metrics["test/model/mape"] == json.loads(evaluated.stdout)["model"]["mape"]

    plots = {a.path for a in client.list_artifacts(logged.info.run_id, "plots")}
    assert plots == {"plots/val_forecasts.png", "plots/test_forecasts.png"}
    model = {a.path.removeprefix("model/") for a in client.list_artifacts(logged.info.run_id, "model")}
    assert model == set(record["model"]["files"])


def test_a_store_that_cannot_be_written_warns_once_and_the_training_goes_on(home, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {"MLFLOW_TRACKING_URI": f"file://{blocker / 'mlruns'}", "MLFLOW_ALLOW_FILE_STORE": "true"}
    trained = energy("train", *FLAGS, "--tracker", "mlflow", home=home, env=env)
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr.count("tracker 'mlflow' failed") == 1, trained.stderr
    record = TrainingRuns(home).find(json.loads(trained.stdout.splitlines()[-1])["run_id"])
    assert record["status"] == "finished" and record["trackers"] == {} and len(record["epochs"]) == 2
