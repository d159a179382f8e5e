"""Training, checkpoints, evaluation and forecasting on a small simulated store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlx.core as mx
import numpy as np
import polars as pl
import pytest
from mlx.utils import tree_flatten, tree_map

from energy_core import Lake
from energy_core.blas import blas_in_use, slow_blas_warning
from energy_core.errors import ConfigError
from energy_core.features import FeatureStore, Splits
from energy_core.features.serving import Batch
from energy_core.ml import Forecaster, ModelConfig, Ring, TrainConfig, evaluate, forecast, load_model, train
from energy_core.ml.evaluate import Scores, against_best_baseline, held_out_forecasts, score
from energy_core.ml.model import holiday_columns, recent_target
from energy_core.ml.train import _reduce, hour_weights, masked_mse
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from tests.homes import forty_days_of_pacw

from .launch import launch

SMALL = {"seq_len": 72, "stride": 12, "batch_size": 8, "d_model": 16, "n_heads": 2, "n_layers": 1}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return forty_days_of_pacw(tmp_path_factory.mktemp("ml"))


def test_loss_ignores_unobserved_targets():
    prediction, target = mx.array([[1.0, 5.0]]), mx.array([[1.0, 0.0]])
    assert masked_mse(prediction, target, mx.array([[1, 0]])).item() == 0.0
    assert masked_mse(prediction, target, mx.array([[1, 1]])).item() == 12.5


def test_a_relative_loss_charges_a_low_hour_and_a_peak_alike_for_missing_by_the_same_share():
    """MAPE's view: 10% off at 500 MW costs what 10% off at 2,000 MW does, where the plain squared error
    charges the peak 16 times as much; an hour near zero (a fault the checks let through) cannot take over."""
    mean, std = 1000.0, 200.0
    actual = np.array([[500.0, 2000.0, 0.0]])
    scaled = mx.array((actual - mean) / std, dtype=mx.float32)
    batch = Batch(mx.zeros((1, 72, 1)), mx.ones((1, 72, 1), dtype=mx.uint8), scaled, mx.ones((1, 3), dtype=mx.uint8),
                  np.zeros(1, "datetime64[us]"))
    missed_by_a_tenth = ((actual * 0.1) / std) ** 2

    def charged(relative: bool) -> np.ndarray:
        weights = hour_weights(batch, mx.ones((1, 3)), TrainConfig(entity="ERCO", relative_loss=relative), (mean, std))
        return np.array(weights) * missed_by_a_tenth

    relative, plain = charged(True)[0], charged(False)[0]
    assert relative[0] == pytest.approx(relative[1]) and plain[1] == pytest.approx(16 * plain[0])
    assert np.array(hour_weights(batch, mx.ones((1, 3)), TrainConfig(entity="ERCO", relative_loss=True),
                                 (mean, std)))[0, 2] == pytest.approx(100)


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    """A store whose demand drops by a quarter at weekends, so "same hour yesterday" is far off on
    Saturdays and Mondays and the calendar says why. (The simulator's demand is one daily cycle plus
    white noise, where nothing beats yesterday.)"""
    home = tmp_path_factory.mktemp("weekly")
    noise = np.random.default_rng(0).normal(0, 10, HOURS.size)
    built_from(home, daily_cycle(weekend_factor=np.where(WEEKEND, 0.75, 1.0)) + noise)
    return home


START, HOURS = datetime(2024, 1, 1, tzinfo=UTC), np.arange(24 * 70)
WEEKEND = (HOURS // 24) % 7 >= 5  # 2024-01-01 is a Monday


def daily_cycle(weekend_factor: np.ndarray) -> np.ndarray:
    return (1000 + 200 * np.sin(2 * np.pi * HOURS / 24)) * weekend_factor


def built_from(home: Path, demand: np.ndarray) -> FeatureStore:
    """PACW's demand from START, built with eight weeks to train on and one to validate."""
    Lake(home).upsert(pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in HOURS], "source": "eia", "dataset": "eia.region",
        "region": "PACW", "series": "demand", "value": demand.round(), "unit": "MWh", "retrieved_at": START,
    }, schema=POLARS_SCHEMA).select(COLUMNS))
    store = FeatureStore(home)
    store.build(["PACW"], splits=Splits(START + timedelta(days=56), START + timedelta(days=63)))
    return store


def test_training_beats_same_hour_yesterday_where_there_is_something_to_learn(weekly, tmp_path):
    store = FeatureStore(weekly)
    state = train(store, TrainConfig(entity="PACW", epochs=6, **SMALL), tmp_path, progress=lambda _: None)
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
    scored = evaluate(store, tmp_path)
    assert scored["model"].mape < 0.8 * scored["same hour yesterday"].mape, scored


def test_a_model_of_week_long_windows_reads_the_week_before_and_one_of_shorter_ones_cannot(weekly, tmp_path):
    store = FeatureStore(weekly)
    for seq_len, reads_the_week in ((168, True), (167, False)):
        config = TrainConfig(entity="PACW", epochs=1, **{**SMALL, "seq_len": seq_len, "stride": 24})
        train(store, config, tmp_path / str(seq_len), progress=lambda _: None)
        model, checkpoint = load_model(tmp_path / str(seq_len))
        assert checkpoint["model"]["weekly"] is reads_the_week
        assert ("weekly.weight" in dict(tree_flatten(model.parameters()))) is reads_the_week


def test_training_resumes_to_the_same_place(home, tmp_path):
    store = FeatureStore(home)
    straight = train(store, TrainConfig(entity="PACW", epochs=4, **SMALL), tmp_path / "a", progress=lambda _: None)

    def crash_after_epoch_two(line: str) -> None:  # the checkpoint of epoch 2 is written, then the process dies
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(store, TrainConfig(entity="PACW", epochs=4, **SMALL), tmp_path / "b", progress=crash_after_epoch_two)
    resumed = train(store, TrainConfig(entity="PACW", epochs=4, **SMALL), tmp_path / "b", resume=True,
                    progress=lambda _: None)
    assert resumed.history[-1]["train_loss"] == pytest.approx(straight.history[-1]["train_loss"], rel=1e-5)
    meta = json.loads((tmp_path / "a" / "checkpoint.json").read_text())
    assert meta["feature_store"]["build"] == store.latest("PACW").build and meta["state"]["epoch"] == 4
    assert len((tmp_path / "a" / "metrics.jsonl").read_text().splitlines()) == 4


def test_evaluation_and_forecasts_use_the_weights_of_the_lowest_validation_loss(home, tmp_path):
    state = train(FeatureStore(home), TrainConfig(entity="PACW", epochs=4, **SMALL), tmp_path, progress=lambda _: None)
    losses = [record["val_loss"] for record in state.history][2:]  # from random weights, epochs 3 and 4 compete
    assert state.best_epoch == 3 + int(np.argmin(losses)) and state.best_val_loss == min(losses)
    model, meta = load_model(tmp_path)
    assert meta["state"]["best_epoch"] == state.best_epoch
    best = mx.load(str(tmp_path / "best.safetensors"))
    loaded = dict(tree_flatten(model.parameters()))
    assert best.keys() == loaded.keys() and all(mx.array_equal(best[k], loaded[k]).item() for k in best)


def test_from_random_weights_an_early_epoch_is_not_kept_however_it_validates(tmp_path):
    """Weekends drop by a quarter until the validation week, which has none: every epoch that learns
    the weekends scores worse there, so the least trained scores lowest."""
    store = built_from(tmp_path, daily_cycle(weekend_factor=np.where(WEEKEND & (HOURS < 24 * 56), 0.75, 1.0)))
    cold = train(store, TrainConfig(entity="PACW", epochs=4, **SMALL), tmp_path / "cold", progress=lambda _: None)
    losses = [record["val_loss"] for record in cold.history]
    assert int(np.argmin(losses)) < 2, losses  # the plant works: an early epoch validates best
    assert cold.best_epoch == 3 + int(np.argmin(losses[2:]))  # the second half of the epochs competes
    warm = train(store, TrainConfig(entity="PACW", epochs=2, **SMALL), tmp_path / "warm",
                 warm_start=tmp_path / "cold", progress=lambda _: None)
    losses = [record["val_loss"] for record in warm.history]
    assert warm.best_epoch == 1 + int(np.argmin(losses))  # from a trained model, any epoch


def test_a_window_shorter_than_three_days_is_refused_before_training(home, tmp_path):
    with pytest.raises(ConfigError, match="at least 72 hours"):
        train(FeatureStore(home), TrainConfig(entity="PACW", **{**SMALL, "seq_len": 60}), tmp_path)
    assert not tmp_path.joinpath("checkpoint.json").exists()


def test_evaluation_scores_model_and_baselines_on_the_same_hours(home, tmp_path):
    store = FeatureStore(home)
    train(store, TrainConfig(entity="PACW", epochs=1, **SMALL), tmp_path, progress=lambda _: None)
    scores = evaluate(store, tmp_path)
    assert set(scores) == {"model", "same hour yesterday", "same hour last week"}
    assert len({s.hours for s in scores.values()}) == 1 and scores["model"].hours >= 24
    assert all(np.isfinite([s.mae, s.rmse, s.mape]).all() for s in scores.values())


def test_actuals_and_baselines_are_the_stored_demand_at_the_right_hours(home, tmp_path):
    """Every scored hour's actual is the stored value at that hour, and the baselines are the stored
    values 24 and 168 hours earlier, read straight from the Parquet store."""
    train(FeatureStore(home), TrainConfig(entity="PACW", epochs=1, **SMALL), tmp_path, progress=lambda _: None)
    hours = held_out_forecasts(FeatureStore(home), tmp_path)
    stored = (Lake(home).scan("eia.region")
              .filter(pl.col("region") == "PACW", pl.col("series") == "demand").select("ts", "value").collect())
    at = dict(zip(stored["ts"], stored["value"], strict=True))
    for row in hours.iter_rows(named=True):
        assert row["actual"] == at[row["ts"]]
        assert row["same hour yesterday"] == at[row["ts"] - timedelta(hours=24)]
        assert row["same hour last week"] == at[row["ts"] - timedelta(hours=168)]


def test_the_model_is_compared_with_the_better_baseline():
    def scored(model: float, yesterday: float, last_week: float) -> dict[str, Scores]:
        return {name: Scores(0.0, 0.0, mape, 24) for name, mape in
                (("model", model), ("same hour yesterday", yesterday), ("same hour last week", last_week))}

    assert against_best_baseline(scored(3.0, 5.0, 4.0)) == ("same hour last week", pytest.approx(25.0))
    assert against_best_baseline(scored(6.0, 5.0, 8.0)) == ("same hour yesterday", pytest.approx(-20.0))
    assert against_best_baseline(scored(1.0, 0.0, 2.0)) == ("same hour yesterday", -float("inf"))  # exact baseline


def test_the_models_recent_hours_fill_a_missing_hour_from_the_day_before():
    hours = np.arange(96, dtype=np.float32)
    x = mx.array(np.stack([hours, -hours], axis=-1)[None])  # the target is column 0
    observed = np.ones((1, 96, 2), dtype=np.uint8)
    observed[0, 90, 0] = observed[0, 60, 0] = 0  # one hour yesterday, one the day before
    recent = np.array(recent_target(x, mx.array(observed), 0))[0]
    last_two = hours[-48:].copy()
    last_two[90 - 48], last_two[60 - 48] = 90 - 24, 60 - 24
    # a window shorter than a week has no hours a week before those forecast: they read as yesterday's
    assert recent.tolist() == [*last_two[24:], *last_two]


def test_the_models_recent_hours_start_with_the_week_before_the_hours_forecast():
    hours = np.arange(200, dtype=np.float32)
    observed = np.ones((1, 200, 1), dtype=np.uint8)
    observed[0, 200 - 168 + 5, 0] = 0  # the hour a week before the sixth hour forecast
    recent = np.array(recent_target(mx.array(hours[None, :, None]), mx.array(observed), 0))[0]
    week_ago = hours[200 - 168:200 - 144].copy()
    week_ago[5] = 200 - 24 + 5  # taken from yesterday: no change
    assert recent.tolist() == [*week_ago, *hours[-48:]]


def test_an_hour_a_week_before_whose_holiday_share_differs_from_the_hour_forecast_reads_as_no_change():
    hours = np.arange(200, dtype=np.float32)
    holiday_then, holiday_ahead = np.zeros(200, np.float32), np.zeros((1, 24, 3), np.float32)  # one future input
    holiday_ahead[0, 8:, 0] = 5.7  # the hours forecast from the ninth on are a holiday (normalized)
    holiday_then[200 - 168 + 20] = 5.7  # and so was the hour a week before the 21st
    x = mx.array(np.stack([hours, holiday_then], axis=-1)[None])
    recent = np.array(recent_target(x, mx.ones(x.shape), 0, future=mx.array(holiday_ahead), holiday=(1, 0)))[0]
    week_ago, yesterday = hours[200 - 168:200 - 144], hours[-24:]
    expected = np.where(np.arange(24) < 8, week_ago, yesterday)
    expected[20] = week_ago[20]  # a holiday then and now: alike
    assert recent[:24].tolist() == expected.tolist() and recent[24:].tolist() == hours[-48:].tolist()
    assert holiday_columns(["demand", "calendar.holiday"], ["calendar.dow_sin", "calendar.holiday"]) == (1, 1)
    assert holiday_columns(["demand", "calendar.holiday"], ["calendar.dow_sin"]) is None  # none for the hours ahead


def test_the_weekly_path_starts_at_zero_and_can_forecast_the_same_hours_last_week():
    x = mx.random.normal((2, 168, 3), key=mx.random.key(1))
    recent = mx.random.normal((2, 72), key=mx.random.key(2))
    mask = mx.ones(x.shape)
    daily, weekly = (Forecaster(ModelConfig(n_features=3, d_model=8, n_heads=2, n_layers=1, weekly=on))
                     for on in (False, True))
    assert "weekly.weight" not in dict(tree_flatten(daily.parameters()))
    assert "weekly.weight" in dict(tree_flatten(weekly.parameters()))
    assert mx.array_equal(weekly(x, mask, length=168, recent=recent), recent[:, -24:]).item()
    weekly.weekly.weight = -mx.eye(24)  # forecast = yesterday - (yesterday - a week before)
    assert mx.allclose(weekly(x, mask, length=168, recent=recent), recent[:, :24], atol=1e-6).item()
    other_week = mx.concatenate([recent[:, :24] + 5, recent[:, 24:]], axis=1)
    assert mx.array_equal(daily(x, mask, length=168, recent=other_week), daily(x, mask, length=168,
                                                                                 recent=recent)).item()


def test_only_the_gradients_of_layers_that_saw_a_shard_are_summed_across_ranks():
    class TwinRanks(Ring):
        """Rank 0 of two, whose partner computed exactly the same gradients."""

        def __init__(self) -> None:
            super().__init__()
            self.size = 2

        def all_sum(self, x: mx.array) -> mx.array:
            return 2 * x

    model = Forecaster(ModelConfig(n_features=3, d_model=8, n_heads=2, n_layers=1))
    grads = tree_map(mx.ones_like, model.parameters())
    reduced = dict(tree_flatten(_reduce(grads, TwinRanks())))
    for name, g in reduced.items():
        whole = name.startswith(("head", "autoregressive", "quantile_head"))  # they read whole inputs on every rank
        assert mx.all(g == (1 if whole else 2)).item(), name


def test_score_is_mae_rmse_and_mape():
    result = score(np.array([110.0, 90.0, 50.0]), np.array([100.0, 100.0, 0.0]))
    assert (result.mae, result.mape) == (pytest.approx(70 / 3), pytest.approx(10.0))
    assert result.rmse == pytest.approx(np.sqrt((100 + 100 + 2500) / 3))


def test_forecast_follows_the_latest_stored_hour(home, tmp_path):
    store = FeatureStore(home)
    train(store, TrainConfig(entity="PACW", epochs=1, **SMALL), tmp_path, progress=lambda _: None)
    frame = forecast(store, tmp_path)
    last = np.datetime64(store.latest("PACW").last_ts[:19])
    assert frame.height == 24 and frame["ts"][0].replace(tzinfo=None) == (last + np.timedelta64(1, "h")).item()
    assert frame["eia.demand"].is_finite().all()


def cli(*args: str, home: Path, processes: int = 1) -> subprocess.CompletedProcess:
    if processes > 1:
        return launch(["-m", "energy_core", *args], processes=processes, env={"ENERGY_HOME": str(home)})
    return subprocess.run([sys.executable, "-m", "energy_core", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ENERGY_HOME": str(home)})


def test_two_process_training_equals_one_process_and_the_cli_works_end_to_end(home, tmp_path):
    options = ["--entity", "PACW", "--seq-len", "72", "--stride", "12", "--epochs", "2", "--d-model", "16",
               "--heads", "2", "--layers", "1", "--relative-loss"]
    single = cli("train", *options, "--model", str(tmp_path / "one"), home=home)
    assert single.returncode == 0, single.stderr
    assert ("reference BLAS" in single.stderr) == (slow_blas_warning(blas_in_use()) is not None)  # same libraries
    double = cli("train", "--distributed", *options, "--model", str(tmp_path / "two"), home=home, processes=2)
    assert double.returncode == 0, double.stdout + double.stderr
    one = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(one, two, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    assert json.loads((tmp_path / "two" / "checkpoint.json").read_text())["train"]["relative_loss"] is True
    picture = tmp_path / "forecasts.png"
    evaluated = cli("evaluate", "--entity", "PACW", "--model", str(tmp_path / "two"), "--json", "--plot",
                    str(picture), home=home)
    assert evaluated.returncode == 0 and "same hour last week" in json.loads(evaluated.stdout)
    assert picture.read_bytes()[:4] == b"\x89PNG" and f"plot: {picture}" in evaluated.stderr
    table = cli("evaluate", "--entity", "PACW", "--model", str(tmp_path / "two"), home=home)
    assert table.returncode == 0 and "than the better baseline (same hour" in table.stdout
    written = tmp_path / "forecast.csv"
    forecasted = cli("forecast", "--entity", "PACW", "--model", str(tmp_path / "two"), "--output", str(written),
                     home=home)
    assert forecasted.returncode == 0 and len(forecasted.stdout.splitlines()) == 24
    assert written.read_text().startswith("ts,eia.demand")
