"""Known-future inputs: the calendar and the weather forecast of the hours being forecast."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import mlx.core as mx
import numpy as np
import polars as pl
import pytest

from energy_core import Lake
from energy_core.features import FeatureStore, Splits
from energy_core.features.serving import known_future, real_time_context, training_sequences
from energy_core.ml import Forecaster, ModelConfig, TrainConfig, evaluate, forecast, load_model, train
from energy_core.ml.model import holiday_columns, recent_target
from energy_core.ml.predict import predict, predict_latest
from energy_core.ops import live
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

SMALL = {"seq_len": 72, "stride": 12, "batch_size": 8, "d_model": 16, "n_heads": 2, "n_layers": 1,
         "learning_rate": 3e-3}
START, DAYS = datetime(2024, 1, 1, tzinfo=UTC), 70


def rows(dataset: str, series: str, values: np.ndarray, *, lead: timedelta | None = None) -> pl.DataFrame:
    ts = [START + timedelta(hours=int(h)) for h in range(values.size)]
    retrieved = [t - lead for t in ts] if lead is not None else START + timedelta(days=DAYS + 30)
    return pl.DataFrame({"ts": ts, "source": dataset.split(".")[0], "dataset": dataset, "region": "PACW",
                         "series": series, "value": values.round(2), "unit": "x", "retrieved_at": retrieved},
                        schema=POLARS_SCHEMA).select(COLUMNS)


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """Two homes with one demand series that follows the day's temperature (independent from one day to
    the next, so yesterday says nothing of it); one also stores that temperature and its day-ahead
    forecast (known a day before each hour, a day further than the demand)."""
    hours = np.arange(24 * DAYS)
    rng = np.random.default_rng(0)
    anomaly = np.repeat(rng.normal(0, 4, DAYS + 1), 24)
    temperature = 15 + 5 * np.sin(2 * np.pi * (np.arange(24 * (DAYS + 1)) - 9) / 24) + anomaly
    demand = 1000 + 100 * np.sin(2 * np.pi * (hours - 9) / 24) + 30 * anomaly[:hours.size] \
        + rng.normal(0, 5, hours.size)
    made = {}
    for name, weather in (("without", False), ("with", True)):
        home = tmp_path_factory.mktemp(name)
        frames = [rows("eia.region", "demand", demand)]
        if weather:
            frames += [rows("weather.hourly", "temperature_2m", temperature[:hours.size]),
                       rows("weather.forecast", "temperature_2m", temperature, lead=timedelta(days=1))]
        Lake(home).upsert(pl.concat(frames))
        FeatureStore(home).build(["PACW"], splits=Splits(START + timedelta(days=56), START + timedelta(days=63)))
        made[name] = home
    return made


def test_the_weather_forecast_of_the_hours_ahead_beats_the_same_model_without_it(homes, tmp_path):
    scores = {}
    for name, home in homes.items():
        store = FeatureStore(home)
        train(store, TrainConfig(entity="PACW", epochs=8, **SMALL), tmp_path / name, progress=lambda _: None)
        meta = json.loads((tmp_path / name / "checkpoint.json").read_text())
        expected = ["weather.temperature_2m@forecast"] if name == "with" else []
        assert [f for f in meta["feature_store"]["future"] if not f.startswith("calendar.")] == expected
        scores[name] = evaluate(store, tmp_path / name)["model"].mape
    assert scores["with"] < 0.6 * scores["without"], scores


def test_a_live_forecast_starts_after_the_last_demand_and_reads_the_stored_forecast(homes, tmp_path):
    store = FeatureStore(homes["with"])
    train(store, TrainConfig(entity="PACW", epochs=3, **SMALL), tmp_path, progress=lambda _: None)
    frame = forecast(store, tmp_path)
    # the stored forecast runs a day past the demand: the issue time is the hour after the last demand
    assert frame["ts"][0] == START + timedelta(days=DAYS) and frame.height == 24
    # without the stored forecast (the calendar only, as a server's context gives) it forecasts otherwise
    model, meta = load_model(tmp_path)
    info, ts, values, mask = store.arrays("PACW")
    rows = slice(24 * DAYS - SMALL["seq_len"], 24 * DAYS)
    context = real_time_context(info, ts[rows], values[rows], mask[rows], features=None)
    calendar_only = predict(model, meta, context)
    assert calendar_only["ts"].equals(frame["ts"]) and not np.allclose(calendar_only["eia.demand"], frame["eia.demand"])
    # the server forecasts from the last days of the feature export: the same forecast
    snapshot = live.read(homes["with"], "PACW", 24 * 10)
    served = predict_latest(model, meta, snapshot.info, snapshot.ts, snapshot.values, snapshot.mask)
    assert served.equals(frame)


def test_a_model_without_known_future_inputs_forecasts_as_before_and_old_checkpoints_load(homes, tmp_path):
    mx.random.seed(0)
    before = Forecaster(ModelConfig(8, 16, 2, 1))
    mx.random.seed(0)
    after = Forecaster(ModelConfig(8, 16, 2, 1, n_future=7))
    x, mask = mx.random.normal((2, 72, 8)), mx.ones((2, 72, 8))
    recent, future = mx.random.normal((2, 48)), mx.random.normal((2, 24, 21))
    assert mx.array_equal(before(x, mask, length=72, recent=recent), after(x, mask, length=72, recent=recent,
                                                                              future=future))
    with pytest.raises(ValueError, match="reads 7 known-future features"):
        after(x, mask, length=72, recent=recent)
    store = FeatureStore(homes["without"])
    train(store, TrainConfig(entity="PACW", epochs=1, future=[], **SMALL), tmp_path, progress=lambda _: None)
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    for key in ("future", "future_stats", "timezone", "states"):  # as a checkpoint written before them
        del meta["feature_store"][key]
    del meta["model"]["n_future"], meta["model"]["future_width"]
    (tmp_path / "checkpoint.json").write_text(json.dumps(meta))
    assert evaluate(store, tmp_path)["model"].hours > 0 and forecast(store, tmp_path).height == 24


def test_the_week_before_a_holiday_is_not_read_as_a_like_day(homes):
    """Through the feature store's own normalization: a forecast hour on a holiday of PACW's states (local
    time) is compared with no hour of the week before, nor an hour a week after one; every other hour is."""
    store = FeatureStore(homes["without"])
    info, ts, values, mask = store.arrays("PACW")
    future = known_future(info.features)
    target = info.features.index(info.target)
    differs, issued = [], []
    for batch in training_sequences(info, ts, values, mask, seq_len=168, stride=24, features=None, split="all",
                                    batch_size=16, horizon=24, target=None, future=future):
        recent = recent_target(batch.x, batch.mask, target, future=batch.future,
                               holiday=holiday_columns(info.features, future))
        differs.append(np.array(recent[:, :24] != recent_target(batch.x, batch.mask, target)[:, :24]))
        issued.append(batch.start + np.timedelta64(168, "h"))
    found = dict(zip(np.concatenate(issued).astype("datetime64[h]").tolist(), np.concatenate(differs), strict=True))
    local = np.arange(24) >= 8  # from 08:00 UTC, the local day in Los Angeles (PST)
    expected = {}
    # a week after New Year's Day; Martin Luther King Day; Susan B. Anthony Day (California's only, a third
    # of PACW's states); Presidents' Day; and a week after each
    for day in ("2024-01-08", "2024-01-15", "2024-01-22", "2024-02-15", "2024-02-19", "2024-02-22", "2024-02-26"):
        expected[datetime.fromisoformat(day)] = local
        expected[datetime.fromisoformat(day) + timedelta(days=1)] = ~local
    assert {when: row.tolist() for when, row in found.items() if row.any()} == \
        {when: row.tolist() for when, row in expected.items()}
