"""Cases 27-29 of the fault catalogue: daylight-saving days and revisions, through the whole
pipeline (simulator, source, normalizer, store, feature store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from energy_caiso.simulator import CaisoSimulator

from energy_core.features import FeatureStore
from energy_core.ingest.report import RunReport
from energy_core.storage.lake import Lake
from energy_core.storage.revisions import SUPERSEDED_AT
from energy_core.storage.schema import KEY
from tests.faults.conftest import FaultyCaiso, FaultyEia, edit_json, run_caiso, run_eia, stored

PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific_day(year: int, month: int, day: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, day, tzinfo=PACIFIC)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def run_fuelmix(home, sim, span) -> RunReport:
    return run_caiso(home, sim, span, datasets=("caiso.fuelmix",))


def hours_per_series(home) -> dict[str, int]:
    frame = stored(home)
    counts = frame.group_by("series").agg(pl.col("ts").n_unique().alias("hours"), pl.len().alias("rows"))
    assert (counts["hours"] == counts["rows"]).all(), "one row per UTC hour"
    return dict(zip(counts["series"], counts["hours"], strict=True))


@pytest.mark.fault(27)
def test_f27_fall_back_day_has_25_distinct_utc_hours_and_fuses_in_utc(tmp_path):
    span = pacific_day(2024, 11, 3)
    assert span[1] - span[0] == timedelta(hours=25)
    with CaisoSimulator(min_interval_s=0) as sim:
        report = run_fuelmix(tmp_path, sim, span)
    assert report.ok
    frame = stored(tmp_path).filter(series="gen.solar")
    assert frame.height == 25 and frame["ts"].n_unique() == 25
    # Today's Outlook lists the repeated 01:00 hour once: the standard-time repeat is missing, not invented.
    repeated = datetime(2024, 11, 3, 9, tzinfo=UTC)  # 01:00 PST, the second 01:00 of the day
    assert frame.filter(pl.col("ts") == repeated)["value"].to_list() == [None]
    assert frame["value"].null_count() == 1


@pytest.mark.fault(28)
def test_f28_spring_forward_day_has_23_hours_and_values_at_a_missing_time_are_refused(tmp_path):
    span = pacific_day(2024, 3, 10)
    assert span[1] - span[0] == timedelta(hours=23)
    with CaisoSimulator(min_interval_s=0) as sim:  # the file lists 02:00-02:55 with empty cells, as CAISO does
        assert run_fuelmix(tmp_path / "blank", sim, span).ok
    assert set(hours_per_series(tmp_path / "blank").values()) == {23}

    def fill_the_gap(data: bytes) -> bytes:
        return b"\n".join(line.replace(b",,", b",1,") if line.startswith(b"02:") else line
                          for line in data.split(b"\n"))

    with FaultyCaiso(*[edit_csv_plain(fill_the_gap)] * 2) as sim:
        report = run_fuelmix(tmp_path / "filled", sim, span)
    (window,) = report.windows
    assert window.status == "failed" and "do not exist (the spring-forward hour)" in window.error
    assert stored(tmp_path / "filled").height == 0


def edit_csv_plain(change):
    """Today's Outlook serves plain CSV, not a zip."""
    from dataclasses import replace

    return lambda real: replace(real, body=change(real.body))


@pytest.mark.fault(29)
def test_f29_a_revision_is_read_as_the_latest_value_and_the_old_one_as_of_its_time(tmp_path):
    """The lake keeps every revision: a read gives the later retrieval's value, a read as of a time
    before it the value known then. The feature table's previous LanceDB version, which the earlier
    build record names, keeps the old value too."""
    span = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 15, tzinfo=UTC))
    with FaultyEia() as sim:
        assert run_eia(tmp_path, sim, span=span).ok
    first = FeatureStore(tmp_path).build(["PACW"])[0]
    before, known_before = stored(tmp_path), datetime.now(UTC)
    hour = datetime(2024, 1, 2, 5, tzinfo=UTC)
    period = f"{hour + timedelta(hours=1):%Y-%m-%dT%H}"

    def revise(body: dict) -> None:
        for row in body["response"]["data"]:
            if row["period"] == period and row["type"] == "D":
                row["value"] = "99999"

    with FaultyEia(edit_json(revise)) as sim:
        assert run_eia(tmp_path, sim, span=span, refresh=True).ok
    demand = stored(tmp_path).filter(series="demand", ts=hour)
    assert demand["value"].to_list() == [99999.0], "one current row per key, the later retrieval wins"
    lake = Lake(tmp_path)
    assert lake.scan(as_of=known_before).collect().sort(KEY).equals(before), "as known before the revision"
    history = lake.revisions().filter(series="demand", ts=hour).sort("retrieved_at").collect()
    assert history["value"].to_list() == [before.filter(series="demand", ts=hour)["value"].item(), 99999.0]
    assert history[SUPERSEDED_AT].to_list() == [history["retrieved_at"][1], None]
    assert lake.revisions().collect().height == before.height + 1, "the values that did not change made no revision"

    store = FeatureStore(tmp_path)
    second = store.build(["PACW"])[0]
    assert second.changed_rows == 1 and second.table_version > first.table_version
    column = second.features.index("eia.demand")
    table = store._db.open_table("entity_PACW")
    for version, expected in ((first.table_version, None), (second.table_version, 99999.0)):
        table.checkout(version)
        rows = pl.from_arrow(table.to_arrow()).filter(pl.col("ts") == hour)
        value = rows["values"].to_list()[0][column]
        if expected is None:
            assert value != 99999.0 and value > 0, "the old value is still in the previous version"
        else:
            assert value == expected
