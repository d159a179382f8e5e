"""More years of training data must not make the forecaster worse (issue 21).

The planted series starts at 05:00 UTC, as the recorded EIA-930 BAs do (their first hour is local
midnight), while the validation and test months start at UTC midnights, where the held-out forecasts
are issued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
import polars as pl

from energy_core import Lake
from energy_core.features import FeatureStore, Splits
from energy_core.features.serving import Batch, window_starts
from energy_core.ml import TrainConfig, evaluate, train
from energy_core.ml.train import scored_targets
from energy_core.ops import quality
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

TINY: dict[str, Any] = {"seq_len": 72, "stride": 24, "batch_size": 8, "d_model": 16, "n_heads": 2, "n_layers": 1,
                        "epochs": 3}
START, END = datetime(2016, 6, 30, 5, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)
SPLITS = Splits(datetime(2019, 11, 1, tzinfo=UTC), datetime(2019, 12, 1, tzinfo=UTC))


def planted() -> pl.DataFrame:
    """Hourly demand: a daily cycle in local time (UTC-6), weekends 20% lower, 4% growth a year, noise,
    and six spikes of 30 times the demand in the early years."""
    hours = np.arange(int((END - START).total_seconds() // 3600))
    local = hours + START.hour - 6
    weekend = ((local // 24 + START.weekday()) % 7) >= 5
    rng = np.random.default_rng(0)
    demand = (1000 * (1 + 0.04 * hours / 8766) * (1 + 0.25 * np.sin(2 * np.pi * (local % 24 - 9) / 24))
              * np.where(weekend, 0.8, 1.0) + rng.normal(0, 10, hours.size))
    demand[rng.choice(hours.size - 24 * 400, 6, replace=False)] *= 30
    return pl.DataFrame({"ts": [START + timedelta(hours=int(h)) for h in hours], "source": "eia",
                         "dataset": "eia.region", "region": "ERCO", "series": "demand", "value": demand.round(),
                         "unit": "MWh", "retrieved_at": END}, schema=POLARS_SCHEMA).select(COLUMNS)


def trained_from(home: Path, rows: pl.DataFrame, first: datetime) -> float:
    """December's model MAPE, trained on ``rows`` from ``first`` to October, as benchmarks/multiyear.py does."""
    Lake(home).upsert(rows.filter(pl.col("ts") >= first))
    quality.save(quality.check(home), home)
    store = FeatureStore(home)
    store.build(["ERCO"], splits=SPLITS)
    train(store, TrainConfig(entity="ERCO", **TINY), home / "model", progress=lambda _: None)
    return evaluate(store, home / "model")["model"].mape


def test_training_on_more_years_is_at_least_as_good_on_the_final_month(tmp_path):
    rows = planted()
    last_year = trained_from(tmp_path / "2019", rows, datetime(2019, 1, 1, tzinfo=UTC))
    all_years = trained_from(tmp_path / "2016-2019", rows, START)
    assert all_years <= last_year, (all_years, last_year)


def test_every_split_issues_its_forecasts_at_the_hour_validation_starts(tmp_path):
    """Training windows step back from the validation start: their forecasts begin at the hour of day
    the held-out ones do, whatever hour the stored data begin at."""
    Lake(tmp_path).upsert(planted().filter(pl.col("ts") >= datetime(2019, 8, 1, 5, tzinfo=UTC)))
    store = FeatureStore(tmp_path)
    store.build(["ERCO"], splits=SPLITS)
    info, ts, _, _ = store.arrays("ERCO")
    assert ts[0].astype("datetime64[h]").item().hour == 5
    for stride in (24, 12):
        for split in ("train", "val", "test", "all"):
            starts = window_starts(info, ts, split, 168, 24, stride)
            issued = {ts[s + 168].astype("datetime64[h]").item().hour for s in starts}
            assert issued == ({0} if stride == 24 else {0, 12}), (split, stride, issued)
            assert starts[0] < stride or split in ("val", "test")  # no window that fits is left out


def test_the_losses_leave_out_windows_that_cannot_read_their_last_two_days_and_data_faults():
    """A window missing a whole day of its last two anchors those hours at the mean; a target (or
    yesterday's anchor) far more than ``fault_sigmas`` from the same hour the day before is a fault."""
    length, horizon = 96, 24
    x = np.zeros((4, length, 1), dtype=np.float32)
    mask = np.ones((4, length, 1), dtype=np.uint8)
    target, target_mask = np.zeros((4, horizon), dtype=np.float32), np.ones((4, horizon), dtype=np.uint8)
    mask[1, -30, 0] = mask[1, -54, 0] = 0  # the same hour missing on both of the last two days: unreadable
    mask[2, -30, 0] = 0  # missing yesterday only: filled from the day before, readable
    target[3, 5], target[3, 6] = 6.0, 4.0  # six standard deviations from yesterday: a fault; four: demand
    target_mask[0, 0] = 0
    batch = Batch(mx.array(x), mx.array(mask), mx.array(target), mx.array(target_mask), np.zeros(4, "datetime64[us]"))
    scored = np.array(scored_targets(batch, 0, TrainConfig(entity="ERCO", horizon=horizon)))
    assert scored[0].sum() == 23 and scored[1].sum() == 0 and scored[2].sum() == 24
    assert scored[3, 5] == 0 and scored[3].sum() == 23
    kept = np.array(scored_targets(batch, 0, TrainConfig(entity="ERCO", horizon=horizon, fault_sigmas=None)))
    assert kept[3].sum() == 24
