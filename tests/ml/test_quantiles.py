"""Quantile forecasts: P10, P50 and P90 beside the point forecast, never crossing, learnt by pinball loss
without changing how the point forecast learns, and scored by coverage and pinball loss against the
baselines' empirical quantiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import polars as pl
import pytest
from mlx.utils import tree_flatten

from energy_core import Lake
from energy_core.features import FeatureStore, Splits
from energy_core.ml import TrainConfig, forecast, train
from energy_core.ml.evaluate import BANDS, BASELINES, held_out_forecasts, interval_scores
from energy_core.ml.model import Forecaster, ModelConfig, widened
from energy_core.ml.train import interval_widening, load_model, masked_pinball
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

START, END = datetime(2018, 1, 1, tzinfo=UTC), datetime(2019, 4, 1, tzinfo=UTC)
SPLITS = Splits(datetime(2019, 2, 1, tzinfo=UTC), datetime(2019, 3, 1, tzinfo=UTC))


def inputs(batch: int = 4, length: int = 96) -> tuple[mx.array, mx.array, mx.array]:
    x = mx.random.normal((batch, length, 3), key=mx.random.key(1))
    return x, mx.ones((batch, length, 3)), mx.random.normal((batch, 72), key=mx.random.key(2))


def test_the_quantiles_never_cross_and_a_new_models_median_is_its_point_forecast():
    model = Forecaster(ModelConfig(n_features=3, d_model=16, n_heads=2, n_layers=1))
    x, mask, recent = inputs()
    model.quantile_head.weight = mx.random.normal(model.quantile_head.weight.shape, key=mx.random.key(3)) * 5
    point, bands = model.forecast(x, mask, length=96, recent=recent)
    assert bands.shape == (4, 3, 24)
    assert mx.all(bands[:, 0] <= bands[:, 1]).item() and mx.all(bands[:, 1] <= bands[:, 2]).item()
    fresh = Forecaster(ModelConfig(n_features=3, d_model=16, n_heads=2, n_layers=1))
    point, bands = fresh.forecast(x, mask, length=96, recent=recent)
    assert mx.array_equal(bands[:, 1], point).item()
    assert mx.array_equal(fresh(x, mask, length=96, recent=recent), point).item()


def test_the_pinball_loss_reaches_only_the_quantile_head():
    model = Forecaster(ModelConfig(n_features=3, d_model=16, n_heads=2, n_layers=1))
    x, mask, recent = inputs()
    target = mx.random.normal((4, 24), key=mx.random.key(4))

    def pinball(model: Forecaster) -> mx.array:
        return masked_pinball(model.forecast(x, mask, length=96, recent=recent)[1], target, mx.ones((4, 24)))

    _, grads = nn.value_and_grad(model, pinball)(model)
    moved = {name for name, g in tree_flatten(grads) if mx.any(g != 0).item()}
    assert moved and all(name.startswith("quantile_head") for name in moved), moved


def test_pinball_loss_and_coverage_are_computed_as_defined():
    hours = pl.DataFrame({"actual": [10.0, 20.0], "model": [0.0, 0.0], "p10": [8.0, 21.0], "p50": [10.0, 22.0],
                          "p90": [12.0, 23.0]})
    for name in BASELINES:
        hours = hours.with_columns(pl.lit(0.0).alias(f"{name} p10"), pl.lit(0.0).alias(f"{name} p50"),
                                   pl.lit(0.0).alias(f"{name} p90"))
    model = interval_scores(hours)["model"]
    # hour 1: errors 2, 0, -2 -> 0.2, 0, 0.2; hour 2: errors -1, -2, -3 -> 0.9, 1.0, 0.3
    assert model.coverage == 50.0 and model.pinball == pytest.approx((0.2 + 0.2 + 0.9 + 1.0 + 0.3) / 6)
    # every quantile 0, actual 10 and 20: 0.1*e, 0.5*e, 0.9*e
    assert interval_scores(hours)["same hour yesterday"].pinball == pytest.approx(1.5 * 30 / 6)


def test_the_widening_is_the_least_that_covers_eighty_percent_of_the_hours_it_was_measured_on():
    beyond = np.random.default_rng(0).normal(0.3, 1.0, 1000)  # intervals too narrow: 38% of hours outside
    widening = interval_widening(beyond)
    guaranteed = 0.8 * (beyond.size + 1) / beyond.size  # split conformal's finite-sample level
    assert np.mean(beyond <= widening) >= guaranteed > np.mean(beyond < widening)
    assert interval_widening(beyond - 5) < 0, "intervals far too wide are narrowed"
    assert interval_widening(np.array([])) == 0.0


def test_widened_bands_move_p10_and_p90_only_and_never_cross_the_median():
    bands = np.array([[[1.0, 5.0], [2.0, 6.0], [4.0, 7.0]]])  # (batch, P10 P50 P90, horizon)
    assert widened(bands, 0.5).tolist() == [[[0.5, 4.5], [2.0, 6.0], [4.5, 7.5]]]
    assert widened(bands, -1.5).tolist() == [[[2.0, 6.0], [2.0, 6.0], [2.5, 6.0]]]
    assert widened(bands, 0.0).tolist() == bands.tolist()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A year and a quarter of hourly demand with a daily cycle and noise (std 20), and a tiny model."""
    home = tmp_path_factory.mktemp("home")
    hours = np.arange(int((END - START).total_seconds() // 3600))
    rng = np.random.default_rng(0)
    demand = 1000 + 250 * np.sin(2 * np.pi * (hours % 24) / 24) + rng.normal(0, 20, hours.size)
    Lake(home).upsert(pl.DataFrame(
        {"ts": [START + timedelta(hours=int(h)) for h in hours], "source": "eia", "dataset": "eia.region",
         "region": "ERCO", "series": "demand", "value": demand, "unit": "MWh", "retrieved_at": END},
        schema=POLARS_SCHEMA).select(COLUMNS))
    store = FeatureStore(home)
    store.build(["ERCO"], splits=SPLITS)
    config = TrainConfig(entity="ERCO", seq_len=72, batch_size=8, d_model=16, n_heads=2, n_layers=1, epochs=4,
                         learning_rate=3e-3)
    train(store, config, home / "model", progress=lambda _: None)
    return store, home / "model"


def test_a_trained_model_covers_about_eighty_percent_and_beats_the_baselines_pinball(trained):
    store, model = trained
    hours = held_out_forecasts(store, model, split="test")
    assert (hours["p10"] <= hours["p50"]).all() and (hours["p50"] <= hours["p90"]).all()
    scored = interval_scores(hours)
    assert 65 <= scored["model"].coverage <= 95, scored["model"]
    assert scored["model"].pinball < min(scored[name].pinball for name in BASELINES), scored


def test_the_interval_is_calibrated_on_the_validation_hours_of_the_kept_epoch(trained):
    store, model = trained
    _, meta = load_model(model)
    state, kept = meta["state"], meta["state"]["history"][meta["state"]["best_epoch"] - 1]
    assert state["interval_widening"] == kept["interval_widening"] != 0
    validation = interval_scores(held_out_forecasts(store, model, split="val"))["model"]
    assert 78 <= validation.coverage <= 90, validation


def test_the_baselines_quantiles_are_their_errors_over_the_year_before_validation(trained):
    store, model = trained
    hours = held_out_forecasts(store, model, split="test")
    _, ts, values, _ = store.arrays("ERCO")
    val = int(np.searchsorted(ts, np.datetime64(SPLITS.val_start.replace(tzinfo=None), "us")))
    before = np.arange(val - 8766, val)
    errors = values[before, 0] - values[before - 24, 0]
    offsets = [(hours[f"same hour yesterday {band}"] - hours["same hour yesterday"]).unique().to_list()
               for band in BANDS]
    assert offsets == [[pytest.approx(q, abs=1e-3)] for q in np.quantile(errors, [0.1, 0.5, 0.9])]


def test_a_forecast_carries_its_quantiles(trained):
    store, model = trained
    frame = forecast(store, model)
    assert frame.columns == ["ts", "eia.demand", *BANDS] and frame.height == 24
    assert (frame["p10"] <= frame["p90"]).all()
