"""A run keeps several windows and pages in flight against a slow, throttling service, and stores exactly
what a one-request-at-a-time run stores."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import polars as pl

from energy_core.ingest.config import RunConfig
from energy_core.ingest.report import WindowStatus
from energy_core.ingest.runner import run
from energy_core.plugin.interfaces import RateBudget
from energy_core.plugin.simulator import Throttle
from energy_core.storage.lake import Lake
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import FAST

SPAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))
BAS = ("PACW", "ERCO", "ISNE")


def run_against(sim: EiaSimulator, home, budget: RateBudget) -> tuple:
    report = run(RunConfig(sources=("eia",), start=SPAN[0], end=SPAN[1], home=home, regions=BAS, env=sim.env(),
                           retry=FAST, budgets={"eia": budget}))
    stored = Lake(home).scan().drop("retrieved_at", "ingested_at", strict=False).collect()
    assert stored.height == sum(w.rows for w in report.windows) > 0
    return report, stored.sort("dataset", "region", "series", "ts")


def test_windows_and_pages_go_out_together_and_store_what_a_sequential_run_stores(tmp_path):
    throttle = Throttle(rate=10, burst=5, latency_s=0.15)
    with EiaSimulator(respondents=BAS, throttle=throttle) as sim:
        report, stored = run_against(sim, tmp_path / "concurrent", RateBudget(10, burst=5))
        traffic = sim.traffic
    with EiaSimulator(respondents=BAS) as sim:
        sequential, expected = run_against(sim, tmp_path / "sequential", RateBudget(1000, burst=5, concurrency=1))
    assert report.ok and all(w.status is WindowStatus.OK for w in report.windows)
    assert traffic.max_in_flight > 2, "requests went out one after another"
    assert traffic.over_rate == 0 and traffic.max_in(1.0) <= 10 + 5
    assert report.requests["eia"]["requests"] == sequential.requests["eia"]["requests"] > len(report.windows)
    assert [w.spec for w in report.windows] == [w.spec for w in sequential.windows], "windows in plan order"
    assert stored.equals(expected)


def test_a_throttling_service_slows_the_run_down_without_losing_a_row(tmp_path):
    with EiaSimulator(respondents=BAS, throttle=Throttle(latency_s=0.05, throttle_every=4, retry_after="0")) as sim:
        report, stored = run_against(sim, tmp_path / "throttled", RateBudget(1000, burst=50))
    with EiaSimulator(respondents=BAS) as sim:
        _, expected = run_against(sim, tmp_path / "calm", RateBudget(1000, burst=50))
    stats = report.requests["eia"]
    assert report.ok and stats["throttled"] > 0 and stats["retries"] == stats["throttled"]
    assert stored.equals(expected)


def test_a_sequential_budget_keeps_one_request_in_flight(tmp_path):
    with EiaSimulator(respondents=BAS, throttle=Throttle(latency_s=0.02)) as sim:
        report, _ = run_against(sim, tmp_path, RateBudget(1000, burst=5, concurrency=1))
        assert sim.traffic.max_in_flight == 1
    assert report.ok and report.requests["eia"]["peak_in_flight"] == 1
    assert pl.Series([w.rows for w in report.windows]).min() > 0


def test_a_wait_beyond_the_cap_stops_the_source_at_once_without_pausing_the_windows_in_flight(tmp_path):
    """A 429 asking to wait an hour ends the source (its windows stay pending) instead of holding the
    other window in flight, and the store's lock, for that hour."""
    with EiaSimulator(respondents=BAS, throttle=Throttle(latency_s=0.05, throttle_every=3, retry_after="3600")) as sim:
        started = time.monotonic()
        report = run(RunConfig(sources=("eia",), start=SPAN[0], end=SPAN[1], home=tmp_path, regions=BAS,
                               env=sim.env(), retry=FAST, budgets={"eia": RateBudget(100, concurrency=1)}))
    assert time.monotonic() - started < 60
    statuses = {w.status for w in report.windows}
    assert not report.ok and WindowStatus.FAILED in statuses and WindowStatus.SKIPPED in statuses
    assert "3600 s" in next(w.error for w in report.windows if w.status is WindowStatus.FAILED)
