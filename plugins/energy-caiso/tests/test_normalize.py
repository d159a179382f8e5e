from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from energy_caiso.normalize import CaisoNormalizer
from energy_caiso.parse import read_fuelsource
from energy_caiso.simulator import fuelsource_csv
from energy_caiso.source import pacific_day_bounds

from energy_core.errors import PayloadValidationError
from energy_core.plugin.interfaces import RawBatch, Window
from energy_core.storage.schema import validate_observations

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def intervals(minutes: list[int], values: list[float | None], *, step: int = 5, area: str = "Caiso_Totals",
              item: str = "Export") -> pl.DataFrame:
    starts = [T0 + timedelta(minutes=m) for m in minutes]
    return pl.DataFrame({"start": starts, "end": [s + timedelta(minutes=step) for s in starts],
                         "area": area, "item": item, "value": values},
                        schema_overrides={"value": pl.Float64})


def normalize(rows: pl.DataFrame, dataset: str = "caiso.schedules", window=None) -> pl.DataFrame:
    window = window or Window("caiso", dataset, T0, T0 + timedelta(hours=3))
    return validate_observations(CaisoNormalizer().normalize(RawBatch(window, rows, T0 + timedelta(days=1))))


def test_five_minute_mw_average_to_hourly_mwh():
    out = normalize(intervals(list(range(0, 60, 5)), [float(v) for v in range(12)]))
    row = out.filter(series="schedule.exports").row(0, named=True)
    assert (row["ts"], row["value"], row["unit"], row["region"]) == (T0, 5.5, "MWh", "CISO")


def test_mixed_interval_lengths_are_weighted_by_duration():
    quarter = intervals([0, 15, 30], [100.0, 100.0, 100.0], step=15)
    last = intervals([45], [200.0], step=15)
    assert normalize(pl.concat([quarter, last]))["value"].to_list() == [125.0]


def test_an_hour_missing_intervals_is_marked_missing_not_filled():
    out = normalize(intervals([m for m in range(0, 60, 5) if m != 30] + list(range(60, 120, 5)),
                              [1.0] * 11 + [2.0] * 12))
    assert out.sort("ts")["value"].to_list() == [None, 2.0]


def test_a_null_interval_makes_its_hour_incomplete():
    out = normalize(intervals(list(range(0, 60, 5)), [1.0] * 11 + [None]))
    assert out["value"].to_list() == [None]


def test_repeated_intervals_count_once():
    rows = intervals(list(range(0, 60, 5)), [1.0] * 12)
    assert normalize(pl.concat([rows, rows]))["value"].to_list() == [1.0]


def test_an_interval_crossing_the_hour_is_refused():
    with pytest.raises(PayloadValidationError, match="not within one hour"):
        normalize(intervals([50], [1.0], step=15))


def test_prices_keep_their_unit_and_hub_names():
    rows = intervals([0], [42.5], step=60, area="TH_SP15_GEN-APND", item="MCC")
    row = normalize(rows, "caiso.lmp").row(0, named=True)
    assert (row["region"], row["series"], row["unit"], row["value"]) == ("CAISO.HUB.SP15", "lmp.congestion",
                                                                         "USD/MWh", 42.5)


def fuelmix(day: date) -> pl.DataFrame:
    start, end = pacific_day_bounds(day)
    rows = read_fuelsource(fuelsource_csv(day), day)
    return normalize(rows, "caiso.fuelmix", Window("caiso", "caiso.fuelmix", start, end))


def test_spring_forward_day_has_23_utc_hours_all_observed():
    out = fuelmix(date(2024, 3, 10)).filter(series="gen.solar")
    assert out.height == 23 and out["value"].null_count() == 0
    assert out["ts"].min() == datetime(2024, 3, 10, 8, tzinfo=UTC) and out["ts"].is_unique().all()


def test_fall_back_day_has_25_utc_hours_and_marks_the_collapsed_one():
    out = fuelmix(date(2024, 11, 3)).filter(series="gen.gas").sort("ts")
    assert out.height == 25 and out["ts"].is_unique().all()
    missing = out.filter(pl.col("value").is_null())["ts"].to_list()
    assert missing == [datetime(2024, 11, 3, 9, tzinfo=UTC)]  # 01:00-02:00 PST, the hour the file collapses


def test_ordinary_day_maps_every_fuel_column_whatever_its_casing():
    out = fuelmix(date(2024, 6, 2))
    assert set(out["series"]) == {"gen.solar", "gen.wind", "gen.geothermal", "gen.biomass", "gen.biogas",
                                  "gen.small_hydro", "gen.coal", "gen.nuclear", "gen.gas", "gen.large_hydro",
                                  "gen.battery", "gen.imports", "gen.other"}
    assert out.height == 13 * 24 and out["value"].null_count() == 0
    assert (out.filter(series="gen.battery")["value"] < 0).any()  # charging


def test_values_at_a_nonexistent_wall_time_are_refused():
    csv = b"Time,Solar\n01:55,5\n02:00,7\n03:00,9\n"
    with pytest.raises(PayloadValidationError, match="do not exist"):
        read_fuelsource(csv, date(2024, 3, 10))
