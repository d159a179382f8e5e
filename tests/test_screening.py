"""The screening of demand after Ruggles et al. (2020): each rule finds its planted defect and nothing on a
clean series, the rules reproduce the published categories of real PACW data hour for hour, the imputation
is measured on hours hidden on purpose, the imputed values live beside the reported ones (never over them)
and reach the feature build masked as imputed; the mis-stamp check finds a shifted forecast, PJM's too."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from energy_core.features import FeatureStore
from energy_core.ops.quality import check, misstamped
from energy_core.ops.screening import (
    PAPER,
    Category,
    ScreeningConfig,
    impute,
    imputed_series,
    save_imputed,
    screen,
    screen_store,
)
from energy_core.storage.flags import FLAG_SCHEMA
from energy_core.storage.flags import save as save_flags
from energy_core.storage.lake import Lake
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from tests.processes import energy
from tests.recorded import recorded

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 60


def demand(days: int = DAYS) -> np.ndarray:
    """A clean hourly demand: a daily cycle of +-300, a weekly one of +-100 and deterministic noise of +-20."""
    h = np.arange(24 * days)
    return 1000 + 300 * np.sin(2 * np.pi * (h % 24) / 24) + 100 * np.sin(2 * np.pi * h / 168) + (h * 7919) % 41 - 20.0


def flagged(values: np.ndarray, config: ScreeningConfig = PAPER) -> dict[int, str]:
    categories = screen(values, config)
    return {int(h): Category(categories[h]).name for h in np.flatnonzero(categories != Category.OKAY)}


def planted(change) -> np.ndarray:
    values = demand()
    change(values)
    return values


def spike(factor: float, hours: slice = slice(700, 701)):
    def plant(values: np.ndarray) -> None:
        values[hours] *= factor
    return plant


def assign(hours, value: float):
    def plant(values: np.ndarray) -> None:
        values[hours] = value
    return plant


def run_of_five(values: np.ndarray) -> None:
    values[700:705] = values[700]


PLANTED = {  # rule: (defect, the hours it must flag and how); each rule runs on what the rules before it left
    "negative or zero": (assign([700, 710], 0.0), {700: "NEG_OR_ZERO", 710: "NEG_OR_ZERO"}),
    "a negative value goes to the first rule that takes it, not to LOCAL_DEM_DOWN":
        (assign(700, -5.0), {700: "NEG_OR_ZERO"}),
    "identical run: the third and later hours of one repeated value":
        (run_of_five, {702: "IDENTICAL_RUN", 703: "IDENTICAL_RUN", 704: "IDENTICAL_RUN"}),
    "ten times the median, and the hours beside it":
        (spike(20), {699: "GLOBAL_DEM_PLUS_MINUS", 700: "GLOBAL_DEM", 701: "GLOBAL_DEM_PLUS_MINUS"}),
    "far above the expected value (3.5 IQRs of the deviation)": (spike(3), {700: "LOCAL_DEM_UP"}),
    "far below the expected value (2.5 IQRs)": (spike(0.2), {700: "LOCAL_DEM_DOWN"}),
    "a jump away and back, too small for the local rule": (spike(1.4), {700: "DELTA"}),
    "a dip away and back, too small for the local rule": (spike(0.6), {700: "DELTA"}),
    "a stretch that jumps from the last good hour and comes back slowly":
        (spike(1.5, slice(700, 706)), dict.fromkeys(range(700, 706), "SINGLE_DELTA")),
    "good hours stranded among flagged ones (the long good stretches either side are not)": (
        assign(slice(700, 736, 3), 0.0),
        {h: "NEG_OR_ZERO" if (h - 700) % 3 == 0 else "ANOMALOUS_REGION" for h in range(700, 734)}),
}


@pytest.mark.parametrize("rule", PLANTED)
def test_each_rule_flags_its_planted_defect_and_nothing_else(rule):
    plant, expected = PLANTED[rule]
    assert flagged(planted(plant)) == expected


@pytest.mark.parametrize("event", ["none", "three hot days", "a lasting step down"])
def test_real_events_and_missing_hours_are_not_flags(event):
    values = demand()
    if event == "three hot days":
        values[700:772] *= 1.3  # every hour moves together
    elif event == "a lasting step down":
        values[700:] *= 0.7
    values[100:102] = np.nan
    assert flagged(values) == {100: "MISSING", 101: "MISSING"}


def pacw_extract() -> pl.DataFrame:
    """Nine months of PACW with the category and the imputed value Ruggles et al. published for each hour."""
    return pl.read_parquet(recorded("eia930_screening/ruggles_PACW_2016-09_2017-05.parquet"))


def test_the_rules_give_every_hour_of_real_pacw_data_the_published_category():
    published = pacw_extract()
    values = published["raw_demand_mw"].fill_null(np.nan).to_numpy()
    ours = [Category(c).name for c in screen(values)]
    differ = published.with_columns(ours=pl.Series(ours)).filter(pl.col("ours") != pl.col("category"))
    assert differ.height == 0, differ
    kinds = set(published["category"]) - {"OKAY", "MISSING"}
    assert len(kinds) == 9, "every flag category of the paper occurs in the extract"


def test_published_edges_count_the_hours_beyond_an_end_as_flagged():
    """The authors' code counts hours before a series' first as flagged: a day that starts a run next to a
    flagged hour is an ANOMALOUS_REGION there, and not here (a window cut by an end counts what it holds)."""
    values = demand()
    values[21] = values[21] * 1.4  # a DELTA 21 hours after the start
    assert flagged(values) == {21: "DELTA"}
    published = flagged(values, ScreeningConfig(published_edges=True))
    assert published == {21: "DELTA", **dict.fromkeys(range(1, 21), "ANOMALOUS_REGION")}


def hide_and_impute(values: np.ndarray, usable: np.ndarray, length: int, trials: int, seed: int) -> tuple[float, float]:
    """Mean absolute percentage errors (profile, linear interpolation) over blocks of good hours hidden on purpose."""
    rng, hours = np.random.default_rng(seed), np.arange(len(values))
    ours, linear = [], []
    while len(ours) < trials:
        start = int(rng.integers(24 * 20, len(values) - 24 * 20))
        block = slice(start, start + length)
        if not usable[block].all():
            continue
        kept = usable.copy()
        kept[block] = False
        truth = values[block]
        ours.append(np.abs(impute(values, kept)[block] - truth) / truth)
        linear.append(np.abs(np.interp(hours[block], hours[kept], values[kept]) - truth) / truth)
    return float(np.mean(ours)) * 100, float(np.mean(linear)) * 100


@pytest.mark.parametrize(("length", "limit"), [(1, 1.5), (6, 3.0), (24, 5.0)])
def test_imputation_on_hidden_real_hours_beats_linear_interpolation(length, limit):
    values = pacw_extract()["raw_demand_mw"].fill_null(np.nan).to_numpy()
    usable = screen(values) == Category.OKAY
    ours, linear = hide_and_impute(values, usable, length, trials=30, seed=7)
    assert ours < limit and ours < linear, f"{length} h gaps: MAPE {ours:.2f}% (linear {linear:.2f}%)"


def test_imputation_fills_only_the_hours_it_is_asked_for():
    values = demand()
    usable = np.ones(len(values), dtype=bool)
    usable[[5, 700, 701]] = False
    usable[1000:1003] = False
    estimate = impute(values, usable)
    assert np.isnan(estimate[usable]).all() and np.isfinite(estimate[~usable]).all()
    assert np.allclose(estimate[~usable], values[~usable], rtol=0.05)
    assert np.isnan(impute(values, np.zeros(len(values), dtype=bool))).all(), "nothing usable: nothing imputed"


# -- the store, the flags and the feature build --------------------------------------------------

def observations(series: str, values, region: str = "PACW", retrieved: datetime = START + timedelta(days=90),
                 start: datetime = START) -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [start + timedelta(hours=h) for h in range(len(values))], "source": "eia", "dataset": "eia.region",
        "region": region, "series": series, "value": [None if math.isnan(v) else float(v) for v in values],
        "unit": "MWh", "retrieved_at": retrieved}, schema=POLARS_SCHEMA).select(COLUMNS)


SPIKE, GAP = 700, (1000, 1001, 1002)


@pytest.fixture
def screened_home(tmp_path):
    values = demand()
    values[SPIKE] *= 3  # LOCAL_DEM_UP
    values[list(GAP)] = np.nan  # reported as null
    Lake(tmp_path).upsert(observations("demand", values))
    return tmp_path


def stored(home, series: str) -> pl.DataFrame:
    return Lake(home).scan("eia.region").filter(pl.col("series") == series).collect().sort("ts")


def test_imputed_values_are_a_series_of_their_own_beside_the_untouched_reported_one(screened_home):
    reported = stored(screened_home, "demand")
    screening = screen_store(screened_home)
    assert screening.flags.select("check", "series", "start", "hours", "detail").rows() == [
        ("screen", "demand", START + timedelta(hours=SPIKE), 1, "LOCAL_DEM_UP")]
    first = save_imputed(screened_home, screening)
    assert first.rows_new == 4
    assert stored(screened_home, "demand").equals(reported), "the reported values are never changed"
    side_by_side = (reported.select("ts", reported="value")
                    .join(stored(screened_home, imputed_series("demand")).select("ts", imputed="value"), on="ts"))
    hours = [int((ts - START).total_seconds() // 3600) for ts in side_by_side["ts"]]
    assert imputed_series("demand") == "demand.imputed.profile" and hours == [SPIKE, *GAP]
    spike = side_by_side.row(0, named=True)
    assert spike["reported"] == pytest.approx(3 * demand()[SPIKE])
    assert spike["imputed"] == pytest.approx(demand()[SPIKE], rel=0.05)
    assert side_by_side["imputed"].to_numpy() == pytest.approx(demand()[[SPIKE, *GAP]], rel=0.05)
    again = save_imputed(screened_home, screen_store(screened_home, now=datetime.now(UTC) + timedelta(days=1)))
    assert (again.rows_new, again.rows_changed, again.files_written) == (0, 0, 0), "a re-run writes nothing"


def test_the_build_masks_screened_hours_and_reads_the_imputed_series_as_a_feature(screened_home):
    save_imputed(screened_home, screen_store(screened_home))
    (info,) = FeatureStore(screened_home).build(["PACW"])
    _, _, values, mask = FeatureStore(screened_home).arrays("PACW")
    reported, imputed = info.features.index("eia.demand"), info.features.index("eia.demand.imputed.profile")
    assert info.target == "eia.demand", "the target stays the reported series"
    for hour in (SPIKE, *GAP):
        assert (mask[hour, reported], mask[hour, imputed]) == (0, 1), f"hour {hour}: imputed, not observed"
        assert values[hour, imputed] == pytest.approx(demand()[hour], rel=0.05)
    assert (mask[:, reported] + mask[:, imputed] == 1).all(), "every hour is either observed or imputed"

    corrected = demand()[SPIKE]  # EIA revises the spike: the hour is OKAY now, and its imputed value goes
    Lake(screened_home).upsert(
        observations("demand", [corrected], start=START + timedelta(hours=SPIKE), retrieved=START + timedelta(days=91)))
    as_reported = (Lake(screened_home).scan("eia.region", as_of=START + timedelta(days=90))
                   .filter(series="demand", ts=START + timedelta(hours=SPIKE)).collect())
    assert as_reported["value"].to_list() == [pytest.approx(3 * demand()[SPIKE])], "the spike stays known as reported"
    save_imputed(screened_home, screen_store(screened_home))
    assert stored(screened_home, imputed_series("demand")).filter(pl.col("value").is_not_null()).height == 3
    FeatureStore(screened_home).build(["PACW"])
    _, _, values, mask = FeatureStore(screened_home).arrays("PACW")
    assert (mask[SPIKE, reported], mask[SPIKE, imputed]) == (1, 0)
    assert values[SPIKE, reported] == pytest.approx(corrected)


def test_energy_quality_screen_reports_categories_and_stores_the_imputed_series(screened_home):
    result = energy("quality", "--screen", "--home", str(screened_home))
    assert result.returncode == 0, result.stderr
    assert "LOCAL_DEM_UP" in result.stdout and "MISSING" in result.stdout
    assert "imputed: 4 hours, stored as demand.imputed.profile" in result.stdout
    flags = json.loads(energy("quality", "--json", "--home", str(screened_home)).stdout)
    assert not [f for f in flags if f["series"].startswith("demand.imputed")], "the imputed series' gaps are no gaps"
    saved = pl.read_parquet(screened_home / "quality" / "flags.parquet")
    assert saved.filter(pl.col("check") == "screen").height == 1, "a run without --screen keeps the screening's flags"
    screened = json.loads(energy("quality", "--screen", "--json", "--home", str(screened_home)).stdout)
    assert [(f["check"], f["detail"]) for f in screened if f["check"] == "screen"] == [("screen", "LOCAL_DEM_UP")]


def test_checking_some_regions_replaces_their_saved_flags_and_keeps_the_others(tmp_path):
    def flag(check: str, region: str) -> pl.DataFrame:
        return pl.DataFrame([{"check": check, "dataset": "eia.region", "region": region, "series": "demand",
                              "start": START, "end": START, "hours": 1, "detail": ""}], schema=FLAG_SCHEMA)

    save_flags(pl.concat([flag("stuck", "PACW"), flag("screen", "PACW"), flag("stuck", "ERCO")]), tmp_path)
    save_flags(flag("outlier", "PACW"), tmp_path, regions=["PACW"], keep_checks=["screen"])
    saved = pl.read_parquet(tmp_path / "quality" / "flags.parquet")
    assert sorted(saved.select("check", "region").rows()) == [("outlier", "PACW"), ("screen", "PACW"),
                                                              ("stuck", "ERCO")]


# -- the mis-stamp check --------------------------------------------------------------------------

def forecast_pair(shift_from: datetime, lag: int) -> pl.DataFrame:
    """Four months of demand and a forecast of it (3% deterministic error) stamped ``lag`` hours off from
    ``shift_from`` on: the value stamped t is the forecast of t + lag."""
    hours = 24 * 121
    actual = demand(days=121 + 1)
    error = 1 + 0.03 * np.sin(np.arange(len(actual)) * 2.399)  # golden-angle steps: no period near a day
    ts = [START + timedelta(hours=h) for h in range(hours)]
    shifted = np.array([lag if t >= shift_from else 0 for t in ts])
    forecast = (actual * error)[np.arange(hours) + shifted]
    return pl.concat([observations("demand", actual[:hours]), observations("demand_forecast", forecast)])


@pytest.mark.parametrize(("lag", "words"), [(1, "stamped 1 h early"), (-2, "stamped 2 h late")])
def test_a_forecast_stamped_whole_hours_off_is_found_with_its_lag_and_period(lag, words):
    march = datetime(2024, 3, 1, tzinfo=UTC)
    [flag] = misstamped(forecast_pair(march, lag)).iter_rows(named=True)
    assert (flag["check"], flag["series"], flag["start"]) == ("misstamp", "demand_forecast", march)
    assert flag["end"] == datetime(2024, 4, 30, 23, tzinfo=UTC) and words in flag["detail"]
    assert f"lag {lag:+d}" in flag["detail"]
    assert misstamped(forecast_pair(march, 0)).height == 0, "a forecast on time is not flagged"


def test_pjms_day_ahead_forecast_is_found_stamped_an_hour_early_from_february_2019(tmp_path):
    raw = pl.read_parquet(recorded("eia930_screening/eia930_PJM_D_DF_2018-12_2019-04.parquet"))
    rows = raw.select(ts=pl.col("timestamp_utc") - pl.duration(hours=1), source=pl.lit("eia"),
                      dataset=pl.lit("eia.region"), region="region",
                      series=pl.col("type").replace_strict({"D": "demand", "DF": "demand_forecast"}),
                      value="value_mw", unit=pl.lit("MWh"), retrieved_at=pl.lit(START)).cast(dict(POLARS_SCHEMA))
    Lake(tmp_path).upsert(rows)
    found = check(tmp_path).filter(pl.col("check") == "misstamp")
    [flag] = found.iter_rows(named=True)
    assert (flag["region"], flag["series"]) == ("PJM", "demand_forecast")
    assert (flag["start"], flag["end"]) == (datetime(2019, 2, 1, tzinfo=UTC), datetime(2019, 4, 30, 22, tzinfo=UTC))
    assert "stamped 1 h early" in flag["detail"] and "3 month(s)" in flag["detail"]
