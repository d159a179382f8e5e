from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mlx.core as mx
import numpy as np
import polars as pl
import pytest

from energy_core.errors import ConfigError
from energy_core.features import FeatureStore, Splits
from energy_core.features.build import split_points
from energy_core.features.calendar import CALENDAR_FEATURES, holiday_share
from energy_core.features.serving import normalized, window_starts
from energy_core.storage.lake import Lake
from energy_core.storage.schema import POLARS_SCHEMA

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FETCHED = datetime(2024, 6, 1, tzinfo=UTC)


def observations(dataset: str, region: str, series: str, start: datetime, values, step=timedelta(hours=1)):
    n = len(values)
    return pl.DataFrame({
        "ts": [start + i * step for i in range(n)], "source": dataset.split(".")[0], "dataset": dataset,
        "region": region, "series": series, "value": values, "unit": "MWh", "retrieved_at": FETCHED,
    }, schema=POLARS_SCHEMA)


def store_with(home, *frames: pl.DataFrame) -> None:
    Lake(home).upsert(pl.concat(frames))


def demand(hours: int, start=T0, region="PACW") -> pl.DataFrame:
    return observations("eia.region", region, "demand", start, [1000.0 + (i % 24) * 10 for i in range(hours)])


def test_sources_of_different_resolutions_align_on_the_hourly_grid(tmp_path):
    quarter_hours = observations("weather.hourly", "PACW", "temperature_2m", T0, [1.0, 2.0, 3.0, 6.0] * 48,
                                 step=timedelta(minutes=15))
    store_with(tmp_path, demand(48), quarter_hours)
    store = FeatureStore(tmp_path)
    store.build(["PACW"])
    frame = store.frame("PACW")
    assert frame.height == 48 and frame["ts"].diff().drop_nulls().unique().to_list() == [timedelta(hours=1)]
    assert frame["weather.temperature_2m"].to_list() == [3.0] * 48  # the mean of each hour's four quarters
    assert frame["eia.demand"][1] == 1010.0


def test_gaps_stay_gaps_with_mask_zero(tmp_path):
    rows = demand(72).filter(pl.col("ts") != T0 + timedelta(hours=30))
    store_with(tmp_path, rows, observations("eia.region", "PACW", "interchange", T0, [None] * 72))
    store = FeatureStore(tmp_path)
    store.build(["PACW"])
    info, ts, _values, mask = store.arrays("PACW")
    col = info.features.index("eia.demand")
    assert len(ts) == 72 and mask[30, col] == 0 and mask[29, col] == 1
    assert store.frame("PACW")["eia.demand"][30] is None
    assert "eia.interchange" not in info.features  # a series that was never observed adds no column
    batch = next(store.get_training_sequences("PACW", seq_len=36, stride=1, split="all", horizon=1))
    x, m = np.array(batch.x), np.array(batch.mask)
    assert x[0, 30, col] == 0.0 and m[0, 30, col] == 0  # normalized inputs carry zeros only where masked


def test_dst_week_has_one_row_per_utc_hour_and_local_calendar(tmp_path):
    week = datetime(2024, 3, 7, tzinfo=UTC)
    store_with(tmp_path, demand(7 * 24, start=week))
    store = FeatureStore(tmp_path)
    store.build(["PACW"])
    frame = store.frame("PACW")
    assert frame.height == 168 and frame["ts"].is_unique().all()
    local_hour = np.round(np.arctan2(frame["calendar.hour_sin"], frame["calendar.hour_cos"]) / (2 * np.pi) * 24) % 24
    before = frame.with_columns(local=local_hour).filter(ts=datetime(2024, 3, 9, 20, tzinfo=UTC))["local"][0]
    after = frame.with_columns(local=local_hour).filter(ts=datetime(2024, 3, 10, 20, tzinfo=UTC))["local"][0]
    assert (before, after) == (12.0, 13.0)  # noon PST, then 1 pm PDT at the same UTC hour


def test_holidays_are_the_observed_days_of_the_entitys_states():
    days = np.array(["2024-07-04", "2022-12-26", "2021-12-31", "2019-06-19", "2019-04-15", "2019-03-02",
                     "2019-07-05"], dtype="datetime64[D]")
    # federal, as observed: Christmas 2022 on a Sunday -> Monday; New Year 2022 on a Saturday -> the Friday before
    assert holiday_share(days, ()).tolist() == [1, 1, 1, 0, 0, 0, 0]
    isne = holiday_share(days, ("CT", "MA", "ME", "NH", "RI", "VT"))
    assert isne[0] == 1 and isne[4] == pytest.approx(2 / 6)  # Patriots' Day: Massachusetts and Maine
    assert holiday_share(days, ("TX",))[5] == 1  # Texas Independence Day
    with pytest.raises(ConfigError, match="no US state or territory 'XX'"):
        holiday_share(days, ("XX",))


def test_an_entity_keeps_its_states_holidays_and_entities_toml_can_set_them(tmp_path):
    store_with(tmp_path, demand(24 * 30, start=datetime(2019, 4, 1, tzinfo=UTC)))
    (tmp_path / "entities.toml").write_text('[PACW_MA]\nstates = ["MA"]\nselectors = [{dataset = "eia.", '
                                            'region = "PACW"}]\n')
    store = FeatureStore(tmp_path)
    assert store.definitions()["PACW"].states == ("OR", "WA", "CA")
    store.build(["PACW", "PACW_MA"])
    noon = datetime(2019, 4, 15, 19, tzinfo=UTC)  # Patriots' Day, noon in Oregon
    assert store.frame("PACW").filter(ts=noon)["calendar.holiday"][0] == 0
    assert store.frame("PACW_MA").filter(ts=noon)["calendar.holiday"][0] == 1


def test_eia_hour_ending_shift_is_carried_into_the_features(tmp_path):
    from energy_core.ingest.runner import RunConfig, run

    run(RunConfig(sources=("eia",), start=T0, end=T0 + timedelta(days=3), home=tmp_path, regions=("PACW",),
                  datasets=("eia.region",), simulate=True))
    store = FeatureStore(tmp_path)
    store.build(["PACW"])
    frame = store.frame("PACW")
    from energy_eia import synthetic

    period_t01 = np.array([(T0 + timedelta(hours=1)).timestamp() / 3600])  # EIA period 2024-01-01T01
    assert frame["ts"][0] == T0 and frame["eia.demand"][0] == synthetic.demand("PACW", period_t01)[0]


def build_year(tmp_path, splits: Splits | None = None):
    hours = 24 * 120
    rng = np.random.default_rng(0)
    store_with(tmp_path, observations("eia.region", "PACW", "demand", T0, list(1000 + rng.normal(0, 50, hours))),
               observations("weather.hourly", "PACW", "temperature_2m", T0, list(rng.normal(10, 5, hours))))
    store = FeatureStore(tmp_path)
    store.build(["PACW"], splits=splits or Splits())
    return store


def test_windows_equal_naive_slices(tmp_path):
    store = build_year(tmp_path)
    info, ts, values, mask = store.arrays("PACW")
    data = normalized(info, values, mask, list(range(len(info.features))))
    target = data[:, info.features.index("eia.demand")]
    seen = 0
    for batch in store.get_training_sequences("PACW", seq_len=240, stride=24, batch_size=5, horizon=24):
        x, y = np.array(batch.x), np.array(batch.target)
        for k, start in enumerate(batch.start):
            s = int(np.searchsorted(ts, start))
            assert np.array_equal(x[k], data[s:s + 240]) and np.array_equal(y[k], target[s + 240:s + 264])
            seen += 1
    assert seen == len(window_starts(info, ts, "train", 240, 24, 24)) > 50


def test_no_window_of_validation_or_test_leaks_into_training(tmp_path):
    store = build_year(tmp_path, Splits(datetime(2024, 3, 20, tzinfo=UTC), datetime(2024, 4, 10, tzinfo=UTC)))
    info, ts, _, _ = store.arrays("PACW")
    val, test = np.searchsorted(ts, np.datetime64("2024-03-20")), np.searchsorted(ts, np.datetime64("2024-04-10"))
    targets = {}
    for split in ("train", "val", "test"):
        starts = window_starts(info, ts, split, 168, 24, 24)
        targets[split] = {int(s) + 168 + h for s in starts for h in range(24)}
        if split == "train":
            assert (starts + 168 + 24 <= val).all()  # inputs and targets end before validation starts
    assert min(targets["val"]) >= val and max(targets["val"]) < test and min(targets["test"]) >= test
    assert not targets["train"] & targets["val"] and not targets["val"] & targets["test"]


def test_normalization_statistics_come_from_training_only(tmp_path):
    store = build_year(tmp_path, Splits(datetime(2024, 3, 20, tzinfo=UTC), datetime(2024, 4, 10, tzinfo=UTC)))
    before = store.latest("PACW").stats["eia.demand"]
    late = observations("eia.region", "PACW", "demand", datetime(2024, 3, 25, tzinfo=UTC), [1e6] * 48,
                        ).with_columns(retrieved_at=pl.lit(FETCHED + timedelta(days=1), dtype=pl.Datetime("us", "UTC")))
    Lake(tmp_path).upsert(late)
    after = store.build(["PACW"], splits=Splits(datetime(2024, 3, 20, tzinfo=UTC), datetime(2024, 4, 10, tzinfo=UTC)))
    assert after[0].stats["eia.demand"] == before and after[0].changed_rows == 48


def test_incremental_build_equals_a_full_rebuild(tmp_path):
    store_with(tmp_path / "a", demand(24 * 10))
    incremental = FeatureStore(tmp_path / "a")
    incremental.build(["PACW"])
    more = pl.concat([demand(24 * 14).with_columns(value=pl.col("value") + 1,
                                                   retrieved_at=pl.lit(FETCHED + timedelta(days=1),
                                                                       dtype=pl.Datetime("us", "UTC")))])
    Lake(tmp_path / "a").upsert(more)
    second = incremental.build(["PACW"])[0]
    store_with(tmp_path / "b", demand(24 * 10))
    Lake(tmp_path / "b").upsert(more)
    full = FeatureStore(tmp_path / "b")
    full.build(["PACW"])
    assert second.build == 2 and second.changed_rows == 24 * 14  # every hour's value changed or is new
    for a, b in zip(incremental.arrays("PACW")[1:], full.arrays("PACW")[1:], strict=True):
        assert np.array_equal(a, b)
    assert incremental.latest("PACW").stats == full.latest("PACW").stats


def test_unchanged_rebuild_writes_nothing(tmp_path):
    store = build_year(tmp_path)
    again = store.build(["PACW"])[0]
    assert again.build == 2 and again.changed_rows == 0


def test_a_run_that_stores_while_a_build_reads_leaves_the_build_behind(tmp_path, monkeypatch):
    """A build records when it read the store, not when it finished: rows stored meanwhile are not in it."""
    from energy_core.features import build

    store_with(tmp_path, demand(48))
    read = build.fuse

    def fuse_while_a_run_stores(*args, **kwargs):
        fused = read(*args, **kwargs)
        store_with(tmp_path, demand(48, start=T0 + timedelta(days=2)))  # lands after the read, before the record
        return fused

    monkeypatch.setattr(build, "fuse", fuse_while_a_run_stores)
    store = FeatureStore(tmp_path)
    store.build(["PACW"])
    assert store.behind(["PACW"]), "the rows stored during the build are not in it: the next run must rebuild"
    monkeypatch.undo()
    assert store.build(["PACW"])[0].rows == 96 and not store.behind(["PACW"])


def test_real_time_context_is_the_latest_hours_from_lancedb_and_parquet(tmp_path):
    store = build_year(tmp_path)
    info, ts, _values, _mask = store.arrays("PACW")
    lance = store.get_real_time_context("PACW", 168)
    parquet = store.get_real_time_context("PACW", 168, source="parquet")
    assert lance.x.shape == (1, 168, len(info.features)) and lance.timestamps[-1] == ts[-1]
    assert np.array_equal(np.array(lance.x), np.array(parquet.x))
    assert np.array_equal(lance.timestamps, ts[-168:])
    assert isinstance(lance.x, mx.array) and lance.features[-len(CALENDAR_FEATURES):] == CALENDAR_FEATURES


def test_feature_selection_and_unknown_names(tmp_path):
    store = build_year(tmp_path)
    batch = next(store.get_training_sequences("PACW", seq_len=48, features=["eia.demand", "calendar.hour_sin"],
                                              batch_size=2))
    assert batch.x.shape == (2, 48, 2) and batch.target.shape == (2, 24)
    with pytest.raises(Exception, match="unknown feature"):
        next(store.get_training_sequences("PACW", seq_len=48, features=["eia.nothing"]))


def test_states_belong_to_an_entitys_definition_and_must_be_a_list(tmp_path):
    from energy_core.errors import PluginError
    from energy_core.plugin.contributions import EntitySpec, Selector

    with pytest.raises(PluginError, match="states belong to the definition"):
        EntitySpec("PACW", (Selector("weather.hourly", "PACW"),), states=("OR",))
    store_with(tmp_path, demand(48))
    (tmp_path / "entities.toml").write_text('[PACW]\nstates = "OR"\n'
                                            'selectors = [{dataset = "eia.", region = "PACW"}]\n')
    with pytest.raises(ConfigError, match="give a list of US postal codes"):
        FeatureStore(tmp_path).definitions()


def test_a_home_with_about_a_day_of_data_still_splits_at_whole_hours():
    """A first day's `energy run` (and the scheduled ingest) builds features: the default splits fall on
    UTC midnights, and with 30 hours from a midnight there is none after the first hour."""
    ts = np.datetime64("2026-12-01T00:00", "us") + np.arange(30).astype("timedelta64[h]")
    val, test = split_points(ts, Splits())
    assert ts[0] < val <= test <= ts[-1]
    assert (val, test) == (np.datetime64("2026-12-01T23:00", "us"), np.datetime64("2026-12-02T00:00", "us"))
    week = np.datetime64("2026-12-01T00:00", "us") + np.arange(24 * 7).astype("timedelta64[h]")
    assert split_points(week, Splits()) == (np.datetime64("2026-12-06", "us"), np.datetime64("2026-12-07", "us"))
