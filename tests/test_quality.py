"""The outlier rule flags readings that jump away and back, not real events (steps, heat waves); flags say why."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from energy_core.ops.quality import QualityConfig, outliers
from energy_core.storage.flags import flag_detail
from tests.recorded import recorded

START = datetime(2024, 7, 1, tzinfo=UTC)


def series(name: str, values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"dataset": "eia.region", "region": "PACW", "series": name,
                         "ts": [START + timedelta(hours=h) for h in range(len(values))], "value": values})


def daily(hours: int, level: float = 1000.0) -> list[float]:
    """A daily cycle of +-300 with deterministic noise of +-20."""
    return [level + 300 * math.sin(2 * math.pi * h / 24) + ((h * 7919) % 41) - 20 for h in range(hours)]


def flagged_hours(frame: pl.DataFrame) -> list[int]:
    found = outliers(frame, QualityConfig())
    return sorted(int((ts - START).total_seconds() // 3600) for ts in found["start"])


def test_a_spike_is_flagged_but_a_heat_wave_and_a_step_are_not():
    demand = daily(24 * 21)
    demand[100] *= 4  # a reading four times too high
    demand[200] = 0.0  # a dropped reading
    for h in range(24 * 10, 24 * 13):
        demand[h] *= 1.6  # three days of heat: far above the profile, but every hour moves together
    for h in range(24 * 15, 24 * 21):
        demand[h] -= 500  # a lasting step
    assert flagged_hours(series("demand", demand)) == [100, 200]


def test_generation_jumps_are_real_and_not_scored():
    nuclear = [1200.0] * (24 * 7 * 9)  # nine weeks: enough for any hour-of-week profile
    nuclear[50] = 100.0  # a unit tripped for an hour: a real event
    assert flagged_hours(series("gen.nuclear", nuclear)) == []


def test_on_the_recorded_2019_year_only_the_readings_that_jump_away_and_back_are_flagged():
    path = recorded("eia930_2019/eia930_2019_6ba.parquet")
    demand = (pl.read_parquet(path).filter(data_type="demand")
              .select(dataset=pl.lit("eia.region"), region="region", series=pl.lit("demand"),
                      ts=pl.col("timestamp").dt.replace_time_zone("UTC") - pl.duration(hours=1), value="value")
              .sort("region", "ts"))
    found = outliers(demand, QualityConfig()).sort("region", "start")
    assert found.select("region", "start").rows() == [
        ("NYIS", datetime(2019, 4, 18, 3, tzinfo=UTC)), ("PACW", datetime(2019, 10, 4, 19, tzinfo=UTC)),
        ("PJM", datetime(2019, 12, 11, 19, tzinfo=UTC)), ("PJM", datetime(2019, 12, 12, 21, tzinfo=UTC))]
    spikes = demand.join(found.select("region", ts="start"), on=["region", "ts"])["value"].to_list()
    assert spikes == [0.0, 3478.0, 417669.0, 155276.0]  # a zero, and readings 1.5x, 4x and 1.4x their neighbours


def test_per_series_checks_hold_when_series_arrive_interleaved_by_hour():
    """``energy quality`` sorts a dataset by hour only (cheap at any size); each check must still see
    every series on its own."""
    from energy_core.ops.quality import gaps, stuck

    frozen = series("demand", [500.0] * 60 + daily(40))
    moving = series("net_generation", daily(100)).filter(pl.col("ts") != START + timedelta(hours=30))
    frame = pl.concat([frozen, moving]).sort("ts")
    [run] = stuck(frame, QualityConfig()).iter_rows(named=True)
    assert (run["series"], run["hours"], run["start"]) == ("demand", 60, START)
    [gap] = gaps(frame).iter_rows(named=True)
    assert (gap["series"], gap["hours"], gap["start"]) == ("net_generation", 1, START + timedelta(hours=30))


def test_a_flag_detail_fills_its_placeholders_in_order_and_refuses_a_miscount():
    frame = pl.DataFrame({"series": ["demand"], "value": [-5.0]})
    detail = flag_detail("negative {}: {}", "series", pl.col("value") * 2)
    assert frame.select(detail).item() == "negative demand: -10.0"
    with pytest.raises(ValueError, match="2 placeholder"):
        flag_detail("negative {}: {}", "series")
