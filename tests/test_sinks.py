"""Sinks are components, not names: a third-party sink that reads back goes through the same
incremental path as the built-in parquet sink, and is held to the same idempotence guarantees."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.hookspecs import hookimpl
from energy_core.ingest.catalog import Catalog
from energy_core.ingest.gaps import gaps
from energy_core.ingest.report import RunReport
from energy_core.ingest.runner import RunConfig, plan, run
from energy_core.plugin.interfaces import RateBudget, Sink
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import Registry
from energy_core.plugin.simulator import Throttle
from energy_core.storage.lake import Lake
from energy_core.storage.schema import KEY, POLARS_SCHEMA
from energy_core.storage.sinks import LakeSink
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import FAST, JAN, FaultyEia, edit_json
from tests.sinks import SinksPlugin, TallySink
from tests.test_store import FETCH_2, rows

READ_BACK = [("lake",), ("sqlite",), ("lake", "sqlite")]
TWELVE = ("AECI", "AVA", "AZPS", "BANC", "BPAT", "CHPD", "CISO", "CPLE", "DOPD", "DUK", "EPE", "ERCO")
"""Two groups of EIA respondents: two windows of each dataset for each month."""
"""Every combination of sinks that can read back is held to the same guarantees."""
GAP = datetime(2024, 1, 2, 4, tzinfo=UTC)
"""The hour ``drop_gap_hour`` removes from EIA's answer (EIA's period 2024-01-02T05 ends it)."""


@pytest.fixture
def registry() -> Registry:
    return Registry(get_plugin_manager(extra=(SinksPlugin(),)))


def run_eia(home, sim: EiaSimulator, registry: Registry, sinks: tuple[str, ...], **config) -> RunReport:
    return run(RunConfig(sources=("eia",), start=JAN[0], end=JAN[1], home=home, regions=("PACW",),
                         datasets=("eia.region",), env=sim.env(), retry=FAST, sinks=sinks, **config),
               registry=registry)


def held(home, registry: Registry, sink: str) -> pl.DataFrame:
    """What a sink holds, in key order, after checking that no key is stored twice."""
    scan = registry.sink(sink)(Home(home)).scan()
    assert scan is not None, f"{sink} reads back"
    frame = scan.collect().sort(KEY)
    assert frame.select(KEY).is_duplicated().sum() == 0, f"{sink}: a key is stored twice"
    return frame


def drop_gap_hour(body: dict) -> None:
    data = [row for row in body["response"]["data"] if row["period"] != "2024-01-02T05"]
    body["response"].update(data=data, total=str(len(data)))


@pytest.mark.parametrize("sinks", READ_BACK, ids="+".join)
def test_a_rerun_stores_nothing_and_skips_the_windows_every_sink_holds(tmp_path, registry, sinks):
    with EiaSimulator(respondents=("PACW",)) as sim:
        first = run_eia(tmp_path, sim, registry, sinks)
        assert first.ok and first.rows_stored > 0 and first.skipped_stored == 0
        before = {sink: held(tmp_path, registry, sink) for sink in sinks}
        assert all(frame.height == first.rows_stored // len(sinks) for frame in before.values())
        sent = len(sim.requests)
        again = run_eia(tmp_path, sim, registry, sinks)
        assert again.ok and again.rows_stored == 0 and again.windows == []
        assert again.skipped_stored == len(first.windows) and len(sim.requests) == sent, "nothing was fetched"
        refetched = run_eia(tmp_path, sim, registry, sinks, incremental=False)  # through the raw cache
        assert refetched.ok and refetched.windows and refetched.rows_stored == 0
    for sink in sinks:
        assert held(tmp_path, registry, sink).equals(before[sink]), f"{sink}: a re-run changed what it holds"


@pytest.mark.parametrize("sinks", READ_BACK, ids="+".join)
def test_gaps_are_reported_from_what_the_sinks_hold(tmp_path, registry, sinks):
    with FaultyEia(edit_json(drop_gap_hour)) as sim:
        report = run_eia(tmp_path, sim, registry, sinks)
    assert report.ok
    assert report.gaps == {("eia.region", "PACW", series): 1
                           for series in ("demand", "demand_forecast", "net_generation", "interchange")}
    for sink in sinks:
        assert GAP not in held(tmp_path, registry, sink)["ts"].to_list()


def test_gaps_name_only_the_regions_of_the_run(tmp_path, registry):
    """A region the home holds with a gap, but this run did not ask for, is not this run's gap."""
    with FaultyEia(edit_json(drop_gap_hour), respondents=("PACW", "ERCO")) as sim:
        def run_for(region: str) -> RunReport:
            return run(RunConfig(sources=("eia",), start=JAN[0], end=JAN[1], home=tmp_path, regions=(region,),
                                 datasets=("eia.region",), env=sim.env(), retry=FAST), registry=registry)

        series = ("demand", "demand_forecast", "net_generation", "interchange")
        assert set(run_for("ERCO").gaps) == {("eia.region", "ERCO", name) for name in series}
        assert run_for("PACW").gaps == {}


def test_gaps_count_the_hours_of_a_series_stored_finer_than_hourly(tmp_path):
    """Quarter-hours count by the hour they fall in: an hour with one quarter stored is held, an hour
    with none is a gap, beside an hourly series whose rows are its hours."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    quarters = [start + timedelta(minutes=15 * i) for i in range(24) if not 12 <= i < 16]  # hour 3 missing
    hourly = [start + timedelta(hours=i) for i in range(6) if i not in (1, 4)]
    stamps = [*quarters[:-3], *hourly]  # hour 5 keeps one quarter of four
    frame = pl.DataFrame({
        "ts": stamps, "source": "test", "dataset": "test.load", "region": "R",
        "series": ["quarterly"] * (len(quarters) - 3) + ["hourly"] * len(hourly), "value": 1.0, "unit": "MW",
        "retrieved_at": start + timedelta(days=1)}, schema=POLARS_SCHEMA)
    with LakeSink(Home(tmp_path)) as sink:
        sink.write(frame)
    assert gaps([LakeSink(Home(tmp_path))], ["test.load"], start, start + timedelta(hours=6)) == {
        ("test.load", "R", "quarterly"): 1, ("test.load", "R", "hourly"): 2}


@pytest.mark.parametrize("sinks", READ_BACK, ids="+".join)
def test_a_changed_value_replaces_the_row(tmp_path, registry, sinks):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim, registry, sinks).ok
        key = sim.api_key
    hour = datetime(2024, 1, 2, 3, tzinfo=UTC)

    def revise(body: dict) -> None:
        for row in body["response"]["data"]:
            if row["period"] == "2024-01-02T04" and row["type"] == "D":
                row["value"] = "4321"

    with FaultyEia(edit_json(revise), api_key=key) as sim:
        revised = run_eia(tmp_path, sim, registry, sinks, refresh=True)
    assert revised.ok and revised.rows_stored == len(sinks), "one row changed, in every sink"
    for sink in sinks:
        row = held(tmp_path, registry, sink).filter(pl.col("series") == "demand", pl.col("ts") == hour)
        assert row["value"].to_list() == [4321.0], sink
    if "lake" in sinks:  # the lake keeps the value it replaced, as it was known until the revision
        lake = Lake(tmp_path)
        kept = lake.revisions("eia.region").filter(series="demand", ts=hour).collect().sort("retrieved_at")
        assert kept["value"][1] == 4321.0 != kept["value"][0]
        before = lake.scan("eia.region", as_of=kept["retrieved_at"][0]).filter(series="demand", ts=hour).collect()
        assert before["value"].to_list() == [kept["value"][0]]


def test_a_window_is_skipped_only_when_every_sink_holds_it(tmp_path, registry):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim, registry, ("lake",)).ok
        sent = len(sim.requests)
        joined = run_eia(tmp_path, sim, registry, ("lake", "sqlite"))
        assert joined.skipped_stored == 0 and joined.windows, "the new sink holds nothing yet"
        assert len(sim.requests) == sent, "fetched again from the raw cache"
        assert held(tmp_path, registry, "sqlite").equals(held(tmp_path, registry, "lake"))
        again = run_eia(tmp_path, sim, registry, ("lake", "sqlite"))
        assert again.skipped_stored == len(joined.windows) and again.windows == []


def test_a_write_only_sink_turns_skipping_off_for_the_run_and_reports_no_gaps_of_its_own(tmp_path, registry):
    with FaultyEia(edit_json(drop_gap_hour)) as sim:
        first = run_eia(tmp_path, sim, registry, ("tally",))
        assert first.ok and first.rows_stored > 0 and first.gaps == {}, "nothing to read gaps from"
        again = run_eia(tmp_path, sim, registry, ("tally",))
        assert again.skipped_stored == 0 and again.windows, "it cannot say what it holds: fetched again"
        both = run_eia(tmp_path, sim, registry, ("lake", "tally"))
        assert both.gaps and both.skipped_stored == 0
        after = run_eia(tmp_path, sim, registry, ("lake", "tally"))
        assert after.skipped_stored == 0 and after.windows, "the tally sink cannot read back"


def test_a_plan_reads_the_sinks_without_opening_them(tmp_path, registry):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim, registry, ("sqlite",)).ok
        with LakeSink(Home(tmp_path)):  # another process's run holds the processed store's lock
            [source_plan] = plan(RunConfig(sources=("eia",), start=JAN[0], end=JAN[1], home=tmp_path,
                                           regions=("PACW",), datasets=("eia.region",), env=sim.env(),
                                           sinks=("lake", "sqlite")), registry=registry)
    assert [w.state for w in source_plan.windows] == ["cached"], "parquet lacks it; the raw cache answers"


def test_a_sink_takes_its_lock_when_entered_not_when_built(tmp_path):
    first, second = LakeSink(Home(tmp_path)), LakeSink(Home(tmp_path))  # building takes nothing
    with first:
        with pytest.raises(StorageError, match="locked by pid"):
            second.__enter__()
    with second:
        pass
    with pytest.raises(StorageError, match="not open"):
        second.write(pl.DataFrame())


class BrokenSink(TallySink):
    """Fails the way a full disk does, on the first batch it is handed."""

    name = "broken"

    def write(self, observations: pl.DataFrame) -> None:
        raise StorageError("disk full while storing the first window")


class BrokenPlugin:
    @hookimpl
    def register_sinks(self) -> list[type[Sink]]:
        return [BrokenSink]


def test_a_sink_that_fails_to_store_stops_the_run_and_every_window_stays_pending(tmp_path):
    """The failed batch's window is not recorded as stored, nor is the error pinned on the next window."""
    registry = Registry(get_plugin_manager(extra=(BrokenPlugin(),)))
    with EiaSimulator(respondents=("PACW",)) as sim, pytest.raises(StorageError, match="disk full"):
        run(RunConfig(sources=("eia",), start=JAN[0], end=JAN[1], home=tmp_path, regions=("PACW",),
                      datasets=("eia.region", "eia.fuel"), env=sim.env(), retry=FAST, sinks=("broken",)),
            registry=registry)
    catalog = Catalog(tmp_path)
    try:
        pending = {w.dataset for w in catalog.pending("eia", ("eia.region", "eia.fuel"))}
        assert pending == {"eia.region", "eia.fuel"}
        assert [run.status for run in catalog.runs()] == ["failed"]
    finally:
        catalog.close()


def test_a_commit_that_fails_behind_the_writes_is_raised_by_the_next_one(tmp_path):
    """The lake sink commits a full buffer on a thread of its own while writes go on: a commit that fails
    there is raised by the next write (and the sink's close), not lost."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with LakeSink(Home(tmp_path)) as sink:
        sink.write(rows([1.0] * 24, start=start))
    [stored] = (tmp_path / "lake" / "eia.region").rglob("*.parquet")
    stored.unlink()  # a bad disk: the table's log names a file that is gone, so no commit to it goes through
    sink = LakeSink(Home(tmp_path))
    sink.flush_rows = 24
    with pytest.raises(StorageError, match=stored.name):  # raised again by the close
        with sink:
            sink.write(rows([1.0] * 24, start=start + timedelta(days=31)))  # fills the buffer: committed behind
            with pytest.raises(StorageError, match=stored.name):
                sink.write(rows([1.0] * 24, start=start + timedelta(days=62)))
    assert sink.stats.rows_written == 0


def test_a_key_written_twice_before_a_commit_keeps_both_values_as_revisions(tmp_path):
    """Two batches of one month wait in the sink's buffer, their keys the same: the commit keeps both values,
    the later one current. (A month of one batch, which holds each key once, is merged without looking for
    repeated keys.)"""
    january, march = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    with LakeSink(Home(tmp_path)) as sink:
        sink.write(rows([1.0] * 24, start=january))
        sink.write(rows([2.0] * 24, start=january, retrieved_at=FETCH_2))
        sink.write(rows([5.0] * 24, start=march))
    stored = Lake(tmp_path).revisions().collect()
    current = stored.filter(pl.col("superseded_at").is_null())
    assert current.height == 48 and set(current["value"]) == {2.0, 5.0}
    assert stored.filter(pl.col("superseded_at").is_not_null())["value"].to_list() == [1.0] * 24


def files_added(home, dataset: str) -> Counter[str]:
    """How many data files every commit of the table has added to each month, over its whole log."""
    added: Counter[str] = Counter()
    for commit in sorted((home / "lake" / dataset / "_delta_log").glob("*.json")):
        for action in map(json.loads, commit.read_text().splitlines()):
            if "add" in action:
                added["{year}-{month:0>2}".format(**action["add"]["partitionValues"])] += 1
    return added


def test_a_full_buffer_holds_a_month_that_a_window_under_way_still_writes_to(tmp_path):
    """Windows end in any order. When the buffer fills, a month the runner says a window under way still
    writes to is held, so it is written once; held by the latest batch alone, it was committed before its
    other window came and was merged and written again."""
    january, february, march = (datetime(2024, month, 1, tzinfo=UTC) for month in (1, 2, 3))
    for told in (True, False):
        home = tmp_path / f"told-{told}"
        sink = LakeSink(Home(home))
        sink.flush_rows = 48
        with sink:
            if told:
                sink.expect("eia.region", [(february, march)])
            sink.write(rows([1.0] * 24, start=february))  # one of February's windows
            sink.write(rows([1.0] * 24, start=january))  # January's: the buffer is full
            sink.write(rows([2.0] * 24, start=february + timedelta(days=1)))  # February's other window
        assert Lake(home).scan().collect().height == 72
        assert files_added(home, "eia.region") == ({"2024-01": 1, "2024-02": 1} if told else
                                                   {"2024-01": 1, "2024-02": 2})


def test_a_run_tells_the_sinks_where_its_windows_still_write(tmp_path):
    """As each window ends, the runner tells the sinks where the windows of its dataset that have not ended
    lie, whatever order they end in: nothing is left out, and nothing once the last has ended."""
    told: list[tuple[str, list]] = []

    class Listening(LakeSink):
        name = "listening"

        def expect(self, dataset, coming):
            told.append((dataset, list(coming)))
            super().expect(dataset, coming)

    class Plugin:
        @hookimpl
        def register_sinks(self):
            return [Listening]

    ended: list = []
    registry = Registry(get_plugin_manager(extra=(Plugin(),)))
    one_at_a_time = RateBudget(1000, burst=100, concurrency=1)  # two windows in flight: the others wait to start
    with EiaSimulator(respondents=TWELVE, throttle=Throttle(latency_s=0.02)) as sim:
        report = run(RunConfig(sources=("eia",), start=datetime(2024, 1, 25, tzinfo=UTC),
                               end=datetime(2024, 3, 3, tzinfo=UTC), home=tmp_path, regions=TWELVE, env=sim.env(),
                               retry=FAST, sinks=("listening",), budgets={"eia": one_at_a_time}),
                     registry=registry, on_window=ended.append)
    assert report.ok and len(ended) == len(told) == 2 * 3 * 2, "datasets x months x groups of ten BAs"
    for k, (dataset, coming) in enumerate(told):
        assert dataset == ended[k].spec.dataset
        for later in (o.spec for o in ended[k + 1:] if o.spec.dataset == dataset):
            assert any(start <= later.start and (end is None or later.end <= end) for start, end in coming), (
                f"{later.describe()} had not ended, yet was left out of {coming}")
    assert {dataset: coming for dataset, coming in told} == {"eia.region": [], "eia.fuel": []}


def test_a_table_whose_log_is_damaged_is_refused_with_what_to_do(tmp_path):
    """A log that is not JSON any more (a bad disk, a partial copy) is a storage error saying what to do,
    to a reader and to the next write alike, not delta-rs's own error."""
    day = rows([1.0] * 24, start=datetime(2024, 1, 1, tzinfo=UTC))
    with LakeSink(Home(tmp_path)) as sink:
        sink.write(day)
    *_, last = sorted((tmp_path / "lake" / "eia.region" / "_delta_log").glob("*.json"))
    last.write_text("not json{")
    with pytest.raises(StorageError, match=r"eia.region .* cannot be read .*--full-refresh"):
        Lake(Home(tmp_path)).table("eia.region")
    with pytest.raises(StorageError, match="cannot be read"), LakeSink(Home(tmp_path)) as sink:
        sink.write(day.with_columns(value=pl.lit(2.0)))
