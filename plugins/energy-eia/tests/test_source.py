"""The EIA source against its simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
import pytest

import energy_eia.source
from energy_core.errors import AuthError, CacheMissError, IncompleteFetchError
from energy_core.ingest.cache import RawCache
from energy_core.ingest.client import FetchMode
from energy_core.ingest.retry import RetryPolicy
from energy_core.plugin.interfaces import FetchRequest, Window
from energy_core.plugin.simulator import SimResponse, Throttle
from energy_core.plugin.windows import month_windows
from energy_core.storage.lake import Lake
from energy_eia.simulator import EiaSimulator, Faults
from energy_eia.source import WINDOW_PAGES
from tests.faults.conftest import run_eia

JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))


def window(dataset="eia.fuel", regions=("PACW", "CISO", "ERCO"), span=JAN) -> Window:
    return Window("eia", dataset, *span, regions)


def fetch_all(source, win) -> pl.DataFrame:
    return pl.concat([batch.rows for batch in source.fetch(win)])


def test_plan_splits_by_month_dataset_and_respondent_groups(sim, make_source):
    source = make_source(sim)
    request = FetchRequest(datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC),
                           tuple(f"R{i}" for i in range(12)), ("eia.region", "eia.fuel"))
    windows = source.plan(request)
    assert len(windows) == 2 * 2 * 2  # months x datasets x groups of at most 10 respondents
    assert windows[0].start == datetime(2024, 1, 15, tzinfo=UTC) and windows[0].end == datetime(2024, 2, 1, tzinfo=UTC)
    assert [len(w.regions) for w in windows[:2]] == [10, 2]


def test_plan_spans_whole_years_and_quarters_where_a_month_would_fill_part_of_a_page(sim, make_source):
    source = make_source(sim)
    request = FetchRequest(datetime(2022, 11, 15, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC), ("PACW",),
                           ("eia.region", "eia.fuel"))
    windows = source.plan(request)
    bounds = ["2022-11-15", "2022-12-01", "2023-01-01", "2024-01-01", "2024-04-01", "2024-05-01"]
    for dataset in request.datasets:
        spans = [(f"{w.start:%Y-%m-%d}", f"{w.end:%Y-%m-%d}") for w in windows if w.dataset == dataset]
        assert spans == list(itertools.pairwise(bounds)), dataset
    assert [w.start for w in windows] == sorted(w.start for w in windows)
    assert max(source.cost(w) for w in windows) <= WINDOW_PAGES

    twelve = FetchRequest(datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC),
                          tuple(f"R{i}" for i in range(12)), ("eia.region", "eia.fuel"))
    assert {(w.end - w.start).days for w in source.plan(twelve)} <= {28, 30, 31}, (
        "ten BAs fill pages by the month, and the group of the other two keeps to their months")


def test_the_months_eia_still_revises_stay_months(sim, make_source):
    source = make_source(sim)
    now = datetime.now(UTC)
    windows = source.plan(FetchRequest(now - timedelta(days=800), now, ("PACW",), ("eia.region",)))
    unsettled = [w for w in windows if w.end > now - source.revision_lookback]
    assert unsettled and all(w.end - w.start <= timedelta(days=31) for w in unsettled)
    assert any(w.end - w.start >= timedelta(days=365) for w in windows)


def test_a_year_of_one_ba_comes_in_full_pages(sim, make_source):
    source = make_source(sim)
    [year] = source.plan(FetchRequest(datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), ("PACW",),
                                      ("eia.region",)))
    rows = fetch_all(source, year)
    assert rows.height == 8760 * 4 and rows.unique(["period", "respondent", "code"]).height == rows.height
    assert len(sim.requests) == 8, "35,040 rows in 8 pages of 5,000, where 12 months take 12 requests"


def test_a_cache_written_month_by_month_still_answers_a_year_offline_and_in_a_plan(sim, make_source, tmp_path):
    cache = RawCache(tmp_path)
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    months = [window("eia.region", ("PACW",), span) for span in month_windows(start, end)]
    online = pl.concat([fetch_all(make_source(sim, cache=cache), month) for month in months])
    sent = len(sim.requests)
    year = window("eia.region", ("PACW",), (start, end))
    offline = fetch_all(make_source(sim, cache=cache, mode=FetchMode.OFFLINE, env={"EIA_API_KEY": ""}), year)
    assert offline.equals(online)
    planned = fetch_all(make_source(sim, cache=cache, mode=FetchMode.DRY_RUN, env={"EIA_API_KEY": ""}), year)
    assert planned.equals(online)
    assert len(sim.requests) == sent
    cache.close()
    with pytest.raises(CacheMissError, match="not in the raw cache"):
        fetch_all(make_source(sim, cache=RawCache(tmp_path / "empty"), mode=FetchMode.OFFLINE), year)


def test_a_home_whose_cache_was_filled_month_by_month_replays_its_years_offline(tmp_path, monkeypatch):
    span = (datetime(2022, 12, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    with EiaSimulator(respondents=("PACW",)) as sim:
        monkeypatch.setattr(energy_eia.source, "WINDOW_PAGES", 0)  # as this source planned before: months only
        monthly = run_eia(tmp_path, sim, span=span)
        monkeypatch.undo()
        stored = Lake(tmp_path).scan().collect()
        replayed = run_eia(tmp_path, sim, span=span, offline=True, incremental=False, env={"EIA_API_KEY": ""})
    assert len(monthly.windows) == 13 and monthly.ok
    assert [(f"{w.spec.start:%Y-%m}", f"{w.spec.end:%Y-%m}") for w in replayed.windows] == [
        ("2022-12", "2023-01"), ("2023-01", "2024-01")]
    assert replayed.ok and all(w.from_cache for w in replayed.windows)
    assert sum(w.rows for w in replayed.windows) == stored.height and replayed.rows_stored == 0, "nothing new"
    assert Lake(tmp_path).scan().collect().equals(stored)


def test_pagination_collects_every_row_exactly_once(sim, make_source):
    rows = fetch_all(make_source(sim), window())
    hours = 31 * 24
    assert rows.height > 5000 * 3  # several pages
    assert rows.unique(["period", "respondent", "code"]).height == rows.height
    assert rows.group_by("respondent", "code").len()["len"].unique().to_list() == [hours]
    pages = [r for r in sim.requests if r.path.endswith("fuel-type-data/data/")]
    offsets = [int(r.first("offset")) for r in pages]
    assert offsets[0] == 0, "the first page tells the total"
    assert sorted(offsets) == list(range(0, rows.height, 5000)), "the other pages, each once (together)"


def test_every_request_carries_a_total_sort_and_inclusive_hour_ending_bounds(sim, make_source):
    fetch_all(make_source(sim), window("eia.region", ("PACW",)))
    request = sim.requests[0]
    assert [request.first(f"sort[{i}][column]") for i in range(3)] == ["period", "respondent", "type"]
    assert (request.first("start"), request.first("end")) == ("2024-01-01T01", "2024-02-01T00")
    assert request.all("facets[type][]") == ["D", "DF", "NG", "TI"]


def test_simulator_shuffles_unsorted_pages_like_the_real_api(sim):
    import httpx

    params = {"api_key": sim.api_key, "frequency": "hourly", "data[0]": "value", "facets[respondent][]": "PACW",
              "start": "2024-01-01", "end": "2024-03-01", "length": "5000"}
    url = f"{sim.url}/v2/electricity/rto/region-data/data/"
    with httpx.Client() as client:
        first = orjson.loads(client.get(url, params=params).content)["response"]["data"]
        again = orjson.loads(client.get(url, params=params).content)["response"]["data"]
    assert [r["period"] for r in first] != [r["period"] for r in again]


def test_faults_are_retried_and_the_result_equals_a_clean_fetch(make_source):
    with EiaSimulator(respondents=("PACW", "CISO", "ERCO")) as clean:
        expected = fetch_all(make_source(clean), window())
    faults, throttle = Faults(error_every=4, truncate_every=7), Throttle(throttle_every=3, retry_after="0")
    with EiaSimulator(respondents=("PACW", "CISO", "ERCO"), faults=faults, throttle=throttle) as flaky:
        source = make_source(flaky, retry=RetryPolicy(max_attempts=6, backoff_base=0.01))
        got = fetch_all(source, window())
    assert got.equals(expected)
    assert source.http.stats.retries >= 3


def test_row_count_not_matching_total_fails_the_window_loudly(sim, make_source, monkeypatch):
    real_handle = sim.handle

    def lying(request):
        response = real_handle(request)
        payload = orjson.loads(response.body)
        payload["response"]["total"] = str(int(payload["response"]["total"]) + 1)
        return SimResponse(200, orjson.dumps(payload), response.headers)

    monkeypatch.setattr(sim, "handle", lying)
    with pytest.raises(IncompleteFetchError,
                       match=r"received 2976 rows \(2976 distinct\) but the API reported a total of 2977"):
        fetch_all(make_source(sim), window("eia.region", ("PACW",)))
    assert len(sim.requests) == 2  # fetched again once, then failed


def test_wrong_key_is_terminal(sim, make_source):
    source = make_source(sim, env={"EIA_API_KEY": "wrong-key-123"})
    with pytest.raises(AuthError, match="EIA rejected the API key"):
        fetch_all(source, window("eia.region", ("PACW",)))
    assert len(sim.requests) == 1


def test_missing_key_fails_before_sending(sim, make_source):
    source = make_source(sim, env={"EIA_API_KEY": ""})
    with pytest.raises(AuthError, match="EIA_API_KEY is not set"):
        fetch_all(source, window("eia.region", ("PACW",)))
    assert sim.requests == []


def test_offline_replays_the_cache_without_a_key(sim, make_source, tmp_path):
    cache = RawCache(tmp_path)
    online = fetch_all(make_source(sim, cache=cache), window())
    sent = len(sim.requests)
    offline = fetch_all(make_source(sim, cache=cache, mode=FetchMode.OFFLINE, env={"EIA_API_KEY": ""}), window())
    assert offline.equals(online) and len(sim.requests) == sent
    cache.close()


def test_table_mode_replays_a_users_long_table(make_source):
    table = pl.DataFrame({
        "period": ["2024-01-01T01", "2024-01-01T02", "2024-01-01T01"],
        "respondent": ["PACW", "PACW", "PACW"],
        "type": ["D", "D", None], "fueltype": [None, None, "WND"], "value": [2500.0, None, -2.0],
    })
    with EiaSimulator(table=table, respondents=("PACW",)) as sim:
        region = fetch_all(make_source(sim), window("eia.region", ("PACW",)))
        fuel = fetch_all(make_source(sim), window("eia.fuel", ("PACW",)))
    assert region["value"].to_list() == [2500.0, None]
    assert fuel.select("code", "value").row(0) == ("WND", -2.0)


def test_without_a_total_sort_shuffled_pages_are_caught_not_stored(sim, make_source, monkeypatch):
    """The simulator, like the real API, orders rows differently on each unsorted request, so pages
    overlap and miss rows; the distinct-row check must catch it rather than store a partial window."""
    from energy_eia import source as source_module

    unsorted = source_module.page_params

    def without_sort(route, win, offset):
        return [(k, v) for k, v in unsorted(route, win, offset) if not k.startswith("sort[")]

    monkeypatch.setattr(source_module, "page_params", without_sort)
    with pytest.raises(IncompleteFetchError, match="distinct"):
        fetch_all(make_source(sim), window("eia.fuel"))


def test_a_table_named_in_the_runs_env_is_replayed_not_the_cached_synthetic_data(tmp_path):
    """``RunConfig.env`` alone must reach the simulator, and a home that already cached the synthetic
    answers for the same requests must not serve them to the replay."""
    from energy_core.ingest.runner import RunConfig, run

    hours = pl.datetime_range(datetime(2024, 1, 1, 1), datetime(2024, 1, 3), "1h", eager=True)
    table = pl.DataFrame({"timestamp": hours, "region": "PACW", "data_type": "demand",
                          "value": [1000.0 + i for i in range(hours.len())]})
    table.write_parquet(tmp_path / "table.parquet")

    def replay(env: dict) -> pl.DataFrame:
        config = RunConfig(sources=("eia",), start=datetime(2024, 1, 1, tzinfo=UTC),
                           end=datetime(2024, 1, 3, tzinfo=UTC), home=tmp_path / "home", regions=("PACW",),
                           datasets=("eia.region",), simulate=True, incremental=False, env=env,
                           retry=RetryPolicy(backoff_base=0.01))
        assert run(config).ok
        stored = Lake(tmp_path / "home").scan("eia.region").collect()
        return stored.filter(series="demand").sort("ts")

    synthetic = replay({})
    replayed = replay({"ENERGY_EIA_SIMULATOR_TABLE": str(tmp_path / "table.parquet")})
    assert replayed["value"].to_list() == table["value"].to_list() != synthetic["value"].to_list()
