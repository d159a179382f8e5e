"""Point-in-time windows: each training window and each backtest forecast reads the values known at its
issue time, never a revision published after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from energy_core.features import FeatureStore, Splits
from energy_core.ml import TrainConfig, train
from energy_core.ml.evaluate import held_out_forecasts
from energy_core.storage.lake import Lake
from energy_core.storage.schema import POLARS_SCHEMA

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 40
REVISED = (datetime(2024, 1, 20, tzinfo=UTC), datetime(2024, 1, 23, tzinfo=UTC))  # three days revised...
PUBLISHED = datetime(2024, 1, 26, tzinfo=UTC)  # ...and the revision published on the 26th
SHIFT = 500.0


def demand(hours: list[datetime], values: np.ndarray, known: list[datetime]) -> pl.DataFrame:
    n = len(hours)
    return pl.DataFrame({"ts": hours, "source": ["eia"] * n, "dataset": ["eia.region"] * n, "region": ["PACW"] * n,
                         "series": ["demand"] * n, "value": values, "unit": ["MWh"] * n, "retrieved_at": known},
                        schema=POLARS_SCHEMA)


@pytest.fixture
def revised_home(tmp_path):
    """Forty days of hourly demand, each hour known an hour after it ended (a live feed), and three days
    revised upward later."""
    hours = [START + timedelta(hours=h) for h in range(DAYS * 24)]
    base = 1000 + 300 * np.sin(np.arange(len(hours)) * 2 * np.pi / 24)
    lake = Lake(tmp_path)
    lake.upsert(demand(hours, base, [h + timedelta(hours=2) for h in hours]))
    picked = [i for i, h in enumerate(hours) if REVISED[0] <= h < REVISED[1]]
    lake.upsert(demand([hours[i] for i in picked], base[picked] + SHIFT, [PUBLISHED] * len(picked)))
    store = FeatureStore(tmp_path)
    store.build(["PACW"], splits=Splits(datetime(2024, 1, 28, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC)))
    return tmp_path, store, base


def window_with(batches, issue: datetime):
    """The window (normalized demand, (seq_len,)) issued at ``issue``, from training batches."""
    for batch in batches:
        for k, start in enumerate(batch.start):
            if start + np.timedelta64(7 * 24, "h") == np.datetime64(issue.replace(tzinfo=None), "us"):
                return np.array(batch.x[k, :, 0])
    raise AssertionError(f"no window issued at {issue}")


def test_a_window_sees_a_revision_only_once_it_was_published(revised_home):
    _, store, _ = revised_home
    assert len(store.vintages("PACW")) == 3 * 24
    latest = list(store.get_training_sequences("PACW", seq_len=7 * 24, split="train"))
    known = list(store.get_training_sequences("PACW", seq_len=7 * 24, split="train", point_in_time=True))
    before, after = datetime(2024, 1, 24, tzinfo=UTC), datetime(2024, 1, 27, tzinfo=UTC)
    std = store.latest("PACW").stats["eia.demand"][1]
    shifted = (window_with(latest, before) - window_with(known, before)) * std
    revised_rows = slice(7 * 24 - 4 * 24, 7 * 24 - 24)  # Jan 20-22 in the window Jan 17-23
    assert np.allclose(shifted[revised_rows], SHIFT, atol=1e-2), "issued on the 24th: the values before revision"
    assert np.allclose(np.delete(shifted, np.r_[revised_rows]), 0, atol=1e-3)
    assert np.allclose(window_with(latest, after), window_with(known, after)), "issued on the 27th: the revision"


def test_history_backfilled_later_reads_its_first_known_values(tmp_path):
    """Nothing was known at the issue times (it was all fetched in March): the windows read the first
    values fetched, never the later revision."""
    hours = [START + timedelta(hours=h) for h in range(DAYS * 24)]
    base = 1000 + 300 * np.sin(np.arange(len(hours)) * 2 * np.pi / 24)
    lake = Lake(tmp_path)
    lake.upsert(demand(hours, base, [datetime(2024, 3, 1, tzinfo=UTC)] * len(hours)))
    lake.upsert(demand(hours[:24 * 21], base[:24 * 21] + SHIFT, [datetime(2024, 3, 5, tzinfo=UTC)] * 24 * 21))
    store = FeatureStore(tmp_path)
    store.build(["PACW"], splits=Splits(datetime(2024, 1, 28, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC)))
    known = list(store.get_training_sequences("PACW", seq_len=7 * 24, split="train", point_in_time=True))
    info = store.latest("PACW")
    mean, std = info.stats["eia.demand"]
    window = window_with(known, datetime(2024, 1, 15, tzinfo=UTC)) * std + mean
    assert np.allclose(window, base[24 * 7: 24 * 14], atol=0.1)


def test_a_point_in_time_backtest_forecasts_from_what_was_known(revised_home, tmp_path):
    _, store, base = revised_home
    config = TrainConfig(entity="PACW", seq_len=7 * 24, epochs=1, batch_size=4, d_model=8, n_heads=2, n_layers=1)
    store.build(["PACW"], splits=Splits(datetime(2024, 1, 21, tzinfo=UTC), datetime(2024, 1, 22, tzinfo=UTC)))
    train(store, config, tmp_path / "model")
    latest = held_out_forecasts(store, tmp_path / "model", split="test")
    known = held_out_forecasts(store, tmp_path / "model", split="test", point_in_time=True)
    assert latest["ts"].equals(known["ts"]) and latest["actual"].equals(known["actual"])
    # "same hour yesterday" for Jan 22 (issued Jan 22 00:00) read Jan 21, revised only on the 26th
    day = known.filter(pl.col("ts").dt.day() == 22)
    yesterday = base[[(t - START).days * 24 - 24 + t.hour for t in day["ts"]]]
    naive = "same hour yesterday"
    assert np.allclose(day[naive].to_numpy(), yesterday, atol=1e-6)
    assert np.allclose(latest.filter(pl.col("ts").dt.day() == 22)[naive].to_numpy(), yesterday + SHIFT, atol=1e-6)
    assert not known["model"].equals(latest["model"]), "the model read other inputs"
