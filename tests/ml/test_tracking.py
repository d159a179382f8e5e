"""Tracked training runs: what a tracker receives, a failing tracker, the local record, resuming,
replaying a run on the data version it names, and comparing runs (``energy runs``)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import warnings
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import polars as pl
import pytest

from energy_core import Lake
from energy_core.errors import ConfigError, UnknownComponentError
from energy_core.features import FeatureStore, Splits
from energy_core.features import lance as lance_io
from energy_core.features.serving import known_future
from energy_core.hookspecs import hookimpl
from energy_core.ingest.redaction import SecretScope
from energy_core.ingest.runner import RunConfig, run
from energy_core.ml import PinnedStore, RunLog, TrainConfig, replay_of, tracker_classes, train
from energy_core.ml.provenance import digest
from energy_core.ml.replay import retrain_hint
from energy_core.ml.train import TrainState
from energy_core.ops.runs import side_by_side
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.tracking import (
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
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from energy_core.storage.training_runs import TrainingRuns, sha256
from tests.processes import ROOT, energy
from tests.test_cli_startup import imported_by

SMALL = {"seq_len": 72, "stride": 12, "batch_size": 8, "d_model": 16, "n_heads": 2, "n_layers": 1, "epochs": 2}
FLAGS = ["--entity", "PACW", "--seq-len", "72", "--stride", "12", "--epochs", "2", "--d-model", "16", "--heads", "2",
         "--layers", "1"]
SPLITS = Splits(datetime(2024, 1, 28, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Forty days of simulated EIA-930 data for PACW, ingested (so the build names its runs) and built."""
    home = tmp_path_factory.mktemp("tracked")
    report = run(RunConfig(sources=("eia",), start=datetime(2024, 1, 1, tzinfo=UTC),
                           end=datetime(2024, 2, 10, tzinfo=UTC), home=home, regions=("PACW",),
                           datasets=("eia.region",), simulate=True))
    assert report.ok
    FeatureStore(home).build(["PACW"], splits=SPLITS)
    return home


@pytest.fixture
def own_home(home, tmp_path):
    """A copy of the home that a test may change, without the runs other tests recorded."""
    return Path(shutil.copytree(home, tmp_path / "home", ignore=shutil.ignore_patterns("models")))


class Recorder(Tracker):
    """Keeps every event it hears."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def start(self, run: TrainingRun) -> str:
        self.events.append(("start", run))
        return "recorder://here"

    def log_step(self, step: StepMetrics) -> None:
        self.events.append(("step", step))

    def log_epoch(self, epoch: EpochMetrics) -> None:
        self.events.append(("epoch", epoch))

    def log_evaluation(self, evaluation: Evaluation) -> None:
        self.events.append(("evaluation", evaluation))

    def log_model(self, model: ModelFiles) -> None:
        self.events.append(("model", model))

    def finish(self, outcome: RunOutcome) -> None:
        self.events.append(("finish", outcome))

    def of(self, kind: str) -> list:
        return [event for name, event in self.events if name == kind]


def tracked(home: Path, out: Path, *trackers: Tracker | type[Tracker], store: FeatureStore | None = None,
            replayed: str | None = None, **settings: object) -> TrainState:
    config = TrainConfig(entity="PACW", **{**SMALL, **settings})  # type: ignore[arg-type]
    with RunLog(home, trackers, replay_of=replayed) as log:
        return train(store or FeatureStore(home), config, out, progress=lambda _: None, log=log)


def test_a_tracker_receives_configuration_data_and_code_versions_metrics_scores_and_model(home, tmp_path):
    from energy_core.cli.tracking import score_after_training

    recorder, store = Recorder(), FeatureStore(home)
    config = TrainConfig(entity="PACW", **SMALL)  # type: ignore[arg-type]
    with RunLog(home, [recorder]) as log:
        state = train(store, config, tmp_path, progress=lambda _: None, log=log)
        score_after_training(log, store, tmp_path, "val")
    assert [name for name, _ in recorder.events if name != "step"] == ["start", "epoch", "epoch", "model", "evaluation",
                                                                      "finish"]
    (started,) = recorder.of("start")
    info = store.latest("PACW")
    resolved = {**asdict(config), "future": known_future(info.features)}  # None: the build's calendar and forecasts
    assert started.run_id == state.run_id and started.phase is RunPhase.TRAIN and started.config == resolved
    data = started.data
    assert (data.entity, data.build, data.table_version, data.features) == ("PACW", info.build, info.table_version,
                                                                            tuple(info.features))
    assert data.digest == digest(*store.arrays("PACW")[1:]) and data.splits == info.splits
    assert [r.run_id for r in data.ingest_runs] == info.runs and info.runs
    assert all(r.status == "ok" and r.command.startswith("run eia") and r.rows_stored for r in data.ingest_runs)
    assert started.code.packages["energy-core"] == metadata.version("energy-core")
    assert started.code.packages["energy-eia"] == metadata.version("energy-eia")
    if (ROOT / ".git").exists() and shutil.which("git"):
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert started.code.git_commit == head.strip() and isinstance(started.code.git_dirty, bool)

    steps, epochs = recorder.of("step"), recorder.of("epoch")
    assert [s.step for s in steps] == list(range(1, state.step + 1)) and {s.epoch for s in steps} == {1, 2}
    assert [(e.epoch, e.train_loss, e.val_loss) for e in epochs] == [
        (r["epoch"], r["train_loss"], r["val_loss"]) for r in state.history]
    assert [e.epoch for e in epochs if e.best][-1] == state.best_epoch
    (evaluation,) = recorder.of("evaluation")
    assert evaluation.split == "val" and set(evaluation.scores) == {"model", "same hour yesterday",
                                                                    "same hour last week"}
    assert evaluation.scores["model"].hours > 0 and evaluation.build == info.build
    assert evaluation.plot is not None and evaluation.plot.read_bytes()[:4] == b"\x89PNG"
    (model,) = recorder.of("model")
    assert {p.name for p in model.files} >= {"model.safetensors", "checkpoint.json", "metrics.jsonl"}
    assert all(p.exists() for p in model.files) and model.best_epoch == state.best_epoch
    (outcome,) = recorder.of("finish")
    assert outcome == RunOutcome(TrainingStatus.FINISHED, 2, state.best_epoch, state.best_val_loss)

    record = TrainingRuns(home).find(state.run_id)  # the local record holds the same
    assert record["status"] == "finished" and record["trackers"] == {"recorder": "recorder://here"}
    assert [e["train_loss"] for e in record["epochs"]] == [r["train_loss"] for r in state.history]
    assert record["data"]["digest"] == data.digest and record["config"] == resolved
    assert record["evaluations"]["val"]["scores"]["model"]["mape"] == evaluation.scores["model"].mape
    assert record["model"]["files"]["model.safetensors"] == sha256(tmp_path / "model.safetensors")
    assert len(TrainingRuns(home).steps("PACW", state.run_id)) == state.step
    assert json.loads((tmp_path / "checkpoint.json").read_text())["state"]["run_id"] == state.run_id


class Broken(Tracker):
    """Starts, then fails on every call, its error naming a secret and a URL with a password."""

    name = "broken"
    calls = 0

    def start(self, run: TrainingRun) -> str:
        return "broken://"

    def _fail(self, *_: object) -> None:
        Broken.calls += 1
        raise ConnectionError("POST https://user:hunter2@tracker.example/api?token=s3cr3t-t0ken refused")

    log_step = log_epoch = log_evaluation = log_model = finish = _fail


class Unreachable(Tracker):
    """Cannot even be made: no network."""

    name = "unreachable"

    def __init__(self) -> None:
        raise OSError("no route to host")

    start = log_step = log_epoch = log_evaluation = log_model = finish = Broken._fail  # never reached


class TrackerPlugin:
    @hookimpl
    def register_trackers(self) -> list[type[Tracker]]:
        return [Broken, Unreachable]


def test_a_failing_tracker_plugin_warns_once_and_the_training_goes_on(home, tmp_path, caplog):
    pm = get_plugin_manager(extra=(TrackerPlugin(),))
    chosen = tracker_classes(pm, ["broken", "unreachable", "local"])
    assert chosen == [Broken, Unreachable]  # the local record is always kept: naming it adds nothing
    with pytest.raises(UnknownComponentError, match="unknown tracker 'brokn'.*Did you mean 'broken'"):
        tracker_classes(pm, ["brokn"])
    Broken.calls = 0
    with caplog.at_level(logging.WARNING, logger="energy_core.ml.tracking"), SecretScope(["s3cr3t-t0ken"]):
        with RunLog(home, chosen) as log:
            state = train(FeatureStore(home), TrainConfig(entity="PACW", **SMALL), tmp_path,  # type: ignore[arg-type]
                          progress=lambda _: None, log=log)
    assert len(state.history) == 2 and Broken.calls == 1  # dropped after its first failure
    warned = [r.getMessage() for r in caplog.records if r.name == "energy_core.ml.tracking"]
    assert len(warned) == 2 and {w.split()[1] for w in warned} == {"'broken'", "'unreachable'"}, warned
    assert "s3cr3t-t0ken" not in caplog.text and "hunter2" not in caplog.text and "***" in caplog.text
    record = TrainingRuns(home).find(state.run_id)
    assert record["status"] == "finished" and record["trackers"] == {"broken": "broken://"}


def test_an_interrupted_run_is_recorded_so_and_resumes_under_its_id(home, tmp_path):
    def stop_after_the_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    config = TrainConfig(entity="PACW", **SMALL)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt), RunLog(home) as log:
        train(FeatureStore(home), config, tmp_path, progress=stop_after_the_first_epoch, log=log)
    assert log.run is not None
    stopped = TrainingRuns(home).find(log.run.run_id)
    assert stopped["status"] == "interrupted" and len(stopped["epochs"]) == 1
    recorder = Recorder()
    with RunLog(home, [recorder]) as again:
        state = train(FeatureStore(home), config, tmp_path, resume=True, progress=lambda _: None, log=again)
    assert state.run_id == log.run.run_id and recorder.of("start")[0].phase is RunPhase.RESUME
    record = TrainingRuns(home).find(state.run_id)
    assert record["status"] == "finished" and [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert len(record["resumed"]) == 1 and len(TrainingRuns(home).steps("PACW", state.run_id)) == state.step


def more_demand(home: Path, days: int) -> None:
    """``days`` more days of PACW demand after the simulated span, then a build: a new table version."""
    start = datetime(2024, 2, 10, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(24 * days)]
    Lake(home).upsert(pl.DataFrame({
        "ts": hours, "source": "eia", "dataset": "eia.region", "region": "PACW", "series": "demand",
        "value": [3000.0 + 500 * ((h.hour - 12) / 12) ** 2 for h in hours], "unit": "MWh", "retrieved_at": start,
    }, schema=POLARS_SCHEMA).select(COLUMNS))
    FeatureStore(home).build(["PACW"], splits=Splits(datetime(2024, 1, 30, tzinfo=UTC),
                                                     datetime(2024, 2, 6, tzinfo=UTC)))


def test_a_replay_trains_on_the_data_version_it_names_with_the_same_losses(own_home, tmp_path):
    first = tracked(own_home, tmp_path / "first")
    more_demand(own_home, 4)
    record = TrainingRuns(own_home).find(first.run_id)
    assert FeatureStore(own_home).latest("PACW").table_version > record["data"]["table_version"]
    replay = replay_of(record)
    again = tracked(own_home, tmp_path / "again", store=PinnedStore(own_home, replay), replayed=first.run_id)
    assert [(r["train_loss"], r["val_loss"]) for r in again.history] == [
        (r["train_loss"], r["val_loss"]) for r in first.history]
    latest = tracked(own_home, tmp_path / "latest")
    assert latest.history[-1]["train_loss"] != first.history[-1]["train_loss"]  # today's data trains otherwise
    replayed = TrainingRuns(own_home).find(again.run_id)
    assert replayed["replay_of"] == first.run_id and replayed["data"] == record["data"]
    changed = replay_of(record, {"learning_rate": 0.003})
    assert changed.config.learning_rate == 0.003 and changed.config.seq_len == 72
    with pytest.raises(ConfigError, match="cannot change the entity"):
        replay_of(record, {"entity": "CISO"})


def test_the_command_to_train_again_names_every_setting_with_a_flag_energy_train_has():
    from energy_core.cli.ml import train_command

    hint = retrain_hint(TrainConfig(entity="PACW", seq_len=72, fault_sigmas=None, relative_loss=True))
    flags = [word for word in hint.split() if word.startswith("--")]
    assert set(flags) <= {option for parameter in train_command.params for option in parameter.opts}
    assert "--seq-len 72" in hint and "--fault-sigmas 0" in hint and "--relative-loss" in flags
    assert "--point-in-time" not in flags


def test_a_replay_is_refused_when_its_data_version_is_gone(own_home, tmp_path):
    first = tracked(own_home, tmp_path / "first", epochs=1)
    record = TrainingRuns(own_home).find(first.run_id)
    more_demand(own_home, 2)
    table = lance_io.connect(str(own_home / "features")).open_table(lance_io.table_name("PACW"))
    with warnings.catch_warnings():  # LanceDB warns that a cleanup of everything but the latest breaks readers
        warnings.simplefilter("ignore", UserWarning)
        table.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
    with pytest.raises(ConfigError, match=r"no longer holds.*energy train --entity PACW --seq-len 72 .*--seed 0"):
        PinnedStore(own_home, replay_of(record)).arrays("PACW")

    shutil.rmtree(own_home / "features")  # rebuilt from nothing: the versions are numbered again, over other data
    more_demand(own_home, 2)
    assert FeatureStore(own_home).latest("PACW").table_version == record["data"]["table_version"]
    with pytest.raises(ConfigError, match="now holds other data"):
        PinnedStore(own_home, replay_of(record)).arrays("PACW")


def test_runs_show_only_the_settings_that_differ():
    def record(run_id: str, **config: object) -> dict:
        return {"run_id": run_id, "entity": "PACW", "status": "finished", "started_at": "", "finished_at": "",
                "replay_of": None, "epochs": [], "best_epoch": 0, "best_val_loss": None, "evaluations": {},
                "trackers": {}, "model_dir": "", "code": {"packages": {}, "git_commit": None, "git_dirty": None},
                "data": {"build": 1, "table_version": 2, "digest": "", "rows": 1, "first_ts": "", "last_ts": "",
                         "ingest_runs": []},
                "config": {"entity": "PACW", "seq_len": 72, "learning_rate": 0.001, "seed": 0, **config}}

    comparison = side_by_side([record("a"), record("b", learning_rate=0.003), record("c", seed=1)])
    assert comparison.differing == ["learning_rate", "seed"]
    assert [run["changes"] for run in comparison.runs] == [{"learning_rate": 0.001, "seed": 0},
                                                           {"learning_rate": 0.003, "seed": 0},
                                                           {"learning_rate": 0.001, "seed": 1}]


def test_the_commands_record_compare_evaluate_and_replay_runs(own_home, tmp_path):
    settings = tmp_path / "energy.toml"
    settings.write_text('[train]\ntrackers = ["local"]\n')
    first = energy("--config", str(settings), "train", *FLAGS, home=own_home)
    assert first.returncode == 0, first.stderr
    second = energy("train", *FLAGS, "--lr", "0.003", home=own_home)
    assert second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout.splitlines()[-1]), json.loads(second.stdout.splitlines()[-1])
    evaluated = energy("evaluate", "--entity", "PACW", "--json", home=own_home)  # the second run's checkpoint
    assert evaluated.returncode == 0 and f"recorded in run {b['run_id']}" in evaluated.stderr
    test_mape = json.loads(evaluated.stdout)["model"]["mape"]

    listed = energy("runs", "--json", home=own_home)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert runs["differing"] == ["learning_rate"]
    first_run, second_run = runs["runs"]
    assert (first_run["run_id"], second_run["run_id"]) == (a["run_id"], b["run_id"])
    assert first_run["changes"] == {"learning_rate": 0.001} and second_run["changes"] == {"learning_rate": 0.003}
    assert first_run["data"]["table_version"] == second_run["data"]["table_version"]
    assert set(first_run["evaluations"]) == {"val"} and set(second_run["evaluations"]) == {"val", "test"}
    assert second_run["evaluations"]["test"]["scores"]["model"]["mape"] == test_mape
    table = energy("runs", home=own_home)
    assert "learning_rate=0.003" in table.stdout and f"{test_mape:.2f}%" in table.stdout

    replayed = energy("train", "--from-run", a["run_id"][:19], "--model", str(tmp_path / "replayed"), home=own_home)
    assert replayed.returncode == 0, replayed.stderr
    assert f"replaying run {a['run_id']}" in replayed.stdout
    again = json.loads(replayed.stdout.splitlines()[-1])
    assert (again["train_loss"], again["val_loss"]) == (a["train_loss"], a["val_loss"])
    assert len(json.loads(energy("runs", "--json", home=own_home).stdout)["runs"]) == 3


def test_a_run_is_named_by_its_id_or_a_prefix_of_one_id_only(own_home, tmp_path):
    recorded = [tracked(own_home, tmp_path / name, epochs=1).run_id for name in ("a", "b")]
    runs = TrainingRuns(own_home)
    assert runs.find(recorded[0][:22])["run_id"] == recorded[0]
    with pytest.raises(ConfigError, match=f"'2' names {len(recorded)} training runs.*give more of the id"):
        runs.find("2")
    with pytest.raises(ConfigError, match=f"no training run '{recorded[0][:-1]}x'.*did you mean {recorded[0]}"):
        runs.find(recorded[0][:-1] + "x")


def test_runs_reads_records_without_loading_a_data_library(home, tmp_path):
    assert imported_by(tmp_path, "runs", "--home", str(home)) & {"mlx", "lancedb", "polars", "numpy"} == set()
