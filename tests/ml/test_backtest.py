"""Backtests: each period's model is trained on what came before it, validated on the month before and
scored on its own hours alone, beside the baselines and the BA's own forecast, month by month."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlx.core as mx
import numpy as np
import polars as pl
import pytest
from mlx.utils import tree_flatten

from energy_core import Lake
from energy_core.errors import ConfigError
from energy_core.features import FeatureStore
from energy_core.ml import TrainConfig, load_model
from energy_core.ml.backtest import FIRST_MODEL, REFERENCE, BacktestPlan, backtest, monthly
from energy_core.ml.evaluate import score
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from tests.processes import energy

START, END = datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 7, 1, tzinfo=UTC)
TINY = TrainConfig(entity="ERCO", seq_len=72, batch_size=8, d_model=16, n_heads=2, n_layers=1, epochs=2)
PLAN = BacktestPlan(datetime(2019, 5, 1, tzinfo=UTC), datetime(2019, 6, 15, tzinfo=UTC), retrain_months=1,
                    warm_epochs=1, reference="eia.demand_forecast")


def stored_home(home: Path) -> Path:
    """Half a year of hourly ERCO demand (a daily cycle, noise) and a day-ahead forecast of it."""
    hours = np.arange(int((END - START).total_seconds() // 3600))
    rng = np.random.default_rng(0)
    demand = 1000 * (1 + 0.25 * np.sin(2 * np.pi * (hours % 24 - 15) / 24)) + rng.normal(0, 10, hours.size)
    ts = [START + timedelta(hours=int(h)) for h in hours]
    frames = [pl.DataFrame({"ts": ts, "source": "eia", "dataset": "eia.region", "region": "ERCO", "series": series,
                            "value": values.round(), "unit": "MWh", "retrieved_at": END}, schema=POLARS_SCHEMA)
              for series, values in (("demand", demand), ("demand_forecast", demand + rng.normal(0, 30, hours.size)))]
    Lake(home).upsert(pl.concat(frames).select(COLUMNS))
    return home


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, Path, pl.DataFrame]:
    home = stored_home(tmp_path_factory.mktemp("home"))
    out = home / "backtest"
    return home, out, backtest(home, TINY, PLAN, out, progress=lambda _: None)


def test_each_period_is_scored_by_a_model_that_never_saw_its_hours(ran):
    _, out, hours = ran
    assert PLAN.periods() == [(datetime(2019, 5, 1, tzinfo=UTC), datetime(2019, 6, 1, tzinfo=UTC)),
                              (datetime(2019, 6, 1, tzinfo=UTC), datetime(2019, 6, 15, tzinfo=UTC))]
    for start, end in PLAN.periods():
        _, meta = load_model(out / "models" / f"ERCO-{start:%Y-%m-%d}")
        splits = {k: datetime.fromisoformat(v) for k, v in meta["feature_store"]["splits"].items()}
        validated_from = datetime(start.year, start.month - 1, 1, tzinfo=UTC)
        assert splits == {"val_start": validated_from, "test_start": start}, "validated on the month before"
        mine = hours.filter(pl.col("period") == start)
        assert mine["ts"].min() >= start and mine["ts"].max() < end
    epochs = [len(load_model(out / "models" / f"ERCO-{s:%Y-%m-%d}")[1]["state"]["history"]) for s, _ in PLAN.periods()]
    assert epochs == [TINY.epochs, PLAN.warm_epochs]


def test_a_retraining_adapts_the_last_model_at_a_share_of_the_first_learning_rate(ran):
    _, out, _ = ran
    rates = [load_model(out / "models" / f"ERCO-{s:%Y-%m-%d}")[1]["train"]["learning_rate"] for s, _ in PLAN.periods()]
    assert rates == [TINY.learning_rate, pytest.approx(TINY.learning_rate * PLAN.warm_learning_rate)]


def test_one_run_also_gives_the_forecasts_of_the_model_trained_once(ran):
    _, _, hours = ran
    may, june = (hours.filter(pl.col("period") == start) for start, _ in PLAN.periods())
    assert may["model"].equals(may[FIRST_MODEL].alias("model")), "the first period's model is the first model"
    assert not june["model"].equals(june[FIRST_MODEL].alias("model")), "June's model was trained again"


def test_every_hour_of_the_test_span_is_forecast_once_from_midnight_utc(ran):
    _, _, hours = ran
    expected = pl.datetime_range(PLAN.test_start, PLAN.test_end, "1h", closed="left", eager=True)
    assert hours["ts"].to_list() == expected.to_list()
    actual, forecast = hours["actual"].to_numpy(), hours[REFERENCE].to_numpy()
    assert np.abs(forecast - actual).mean() < 60, "the reference is the stored day-ahead forecast of those hours"


def test_the_home_keeps_its_own_feature_store(ran):
    home, out, _ = ran
    assert FeatureStore(home).entities() == [], "the backtest builds in its own feature store"
    assert (out / "features").is_dir()


def test_the_monthly_table_scores_each_month_against_the_baselines_and_the_reference(ran):
    _, _, hours = ran
    table = monthly(hours)
    assert table["month"].to_list() == ["2019-05", "2019-06"]
    assert table["hours"].to_list() == [31 * 24, 14 * 24]
    june = hours.filter(pl.col("ts") >= datetime(2019, 6, 1, tzinfo=UTC))
    model, reference = (score(june[c].to_numpy(), june["actual"].to_numpy()) for c in ("model", REFERENCE))
    row = table.row(1, named=True)
    assert row["model MAPE"] == pytest.approx(model.mape) and row["reference MAE"] == pytest.approx(reference.mae)
    assert row["gain vs reference"] == pytest.approx(100 * (1 - model.mape / reference.mape))
    best = min(row["same hour yesterday MAPE"], row["same hour last week MAPE"])
    assert row["gain vs baseline"] == pytest.approx(100 * (1 - model.mape / best))
    first = score(june[FIRST_MODEL].to_numpy(), june["actual"].to_numpy())
    assert row["gain vs first model"] == pytest.approx(100 * (1 - model.mape / first.mape))


def test_a_warm_start_begins_from_the_last_models_weights(ran, tmp_path):
    from energy_core.ml import train

    home, out, _ = ran
    store = FeatureStore(home, uri=str(out / "features"), exports=out / "features" / "exports")
    first = out / "models" / "ERCO-2019-05-01"
    frozen = TrainConfig(**{**TINY.__dict__, "epochs": 1, "learning_rate": 1e-12, "warmup_steps": 1})
    train(store, frozen, tmp_path / "warm", warm_start=first, progress=lambda _: None)
    before, after = (dict(tree_flatten(load_model(path)[0].parameters())) for path in (first, tmp_path / "warm"))
    assert all(mx.allclose(before[name], after[name], atol=1e-6).item() for name in before)


def test_a_plan_that_does_not_start_on_the_first_of_a_month_is_refused():
    with pytest.raises(ConfigError, match="first of a month"):
        BacktestPlan(datetime(2019, 5, 2, tzinfo=UTC), datetime(2019, 6, 1, tzinfo=UTC)).periods()


def test_energy_backtest_prints_the_months(tmp_path):
    home = stored_home(tmp_path / "home")
    result = energy("backtest", "--entity", "ERCO", "--start", "2019-05-01", "--end", "2019-06-03", "--seq-len", "72",
                    "--epochs", "1", "--d-model", "16", "--layers", "1", "--reference", "eia.demand_forecast",
                    "--retrain-months", "1", "--warm-epochs", "1", "--warm-lr", "0.5", "--relative-loss", "--json",
                    home=home)
    assert result.returncode == 0, result.stderr
    months = json.loads(result.stdout)
    assert [m["month"] for m in months] == ["2019-05", "2019-06"] and months[1]["hours"] == 3 * 24
    assert (home / "backtests" / "ERCO" / "hours.parquet").exists()
    trained = [json.loads((home / "backtests" / "ERCO" / "models" / f"ERCO-2019-0{m}-01" / "checkpoint.json")
                          .read_text())["train"] for m in (5, 6)]
    assert [t["learning_rate"] for t in trained] == [1e-3, 5e-4] and all(t["relative_loss"] for t in trained)


def test_energy_backtest_reads_the_known_future_inputs_it_is_told(tmp_path):
    home = stored_home(tmp_path / "home")
    common = ("backtest", "--entity", "ERCO", "--start", "2019-06-01", "--end", "2019-06-02", "--seq-len", "72",
              "--epochs", "1", "--d-model", "16", "--layers", "1", "--json")
    for future, expected in (("none", []), ("calendar.holiday", ["calendar.holiday"])):
        result = energy(*common, "--future", future, "--out", str(tmp_path / future), home=home)
        assert result.returncode == 0, result.stderr
        meta = json.loads((tmp_path / future / "models" / "ERCO-2019-06-01" / "checkpoint.json").read_text())
        assert meta["feature_store"]["future"] == expected and meta["model"]["n_future"] == len(expected)
