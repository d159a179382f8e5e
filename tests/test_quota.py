"""Budgets count what the service counts: Open-Meteo's weighted calls against its daily quota, in plans and runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from energy_weather.simulator import WeatherSimulator
from energy_weather.source import calls

from energy_core.ingest.config import RunConfig
from energy_core.ingest.report import WindowStatus
from energy_core.ingest.runner import plan, run
from energy_core.plugin.interfaces import RateBudget
from tests.faults.conftest import FAST

THREE_YEARS = (datetime(2021, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
SMALL_DAILY_QUOTA = (RateBudget(600, per=60.0, burst=600), RateBudget(150, per=86_400.0, burst=150))
"""PACW's four points over a year weigh about 105 calls: one year fits a day, three do not."""


@pytest.mark.parametrize(("locations", "variables", "days", "expected"), [
    (1, 8, 14, 1.0), (1, 15, 14, 1.5), (1, 15, 28, 3.0), (10, 8, 365, 10 * 365 / 14), (1, 1, 1, 1.0)])
def test_open_meteo_weighs_a_request_by_locations_variables_and_days(locations, variables, days, expected):
    assert calls(locations, variables, days) == pytest.approx(expected)


def config(home, sim: WeatherSimulator) -> RunConfig:
    return RunConfig(sources=("weather",), start=THREE_YEARS[0], end=THREE_YEARS[1], home=home, regions=("PACW",),
                     datasets=("weather.hourly",), env={**sim.env(), "ENERGY_WEATHER_VARIABLES": "temperature_2m"},
                     retry=FAST, budgets={"weather": SMALL_DAILY_QUOTA})


def test_a_plan_over_the_daily_quota_says_so_before_sending_anything(tmp_path):
    with WeatherSimulator() as sim:
        [weather] = plan(config(tmp_path, sim))
        assert not sim.requests
    assert weather.calls == pytest.approx(3 * 105, rel=0.02)
    assert weather.quota is not None and "150 per day" in weather.quota and "pending" in weather.quota


def test_a_run_stops_at_the_quota_and_the_next_runs_resume_the_windows_left(tmp_path):
    statuses = []
    with WeatherSimulator() as sim:
        for _ in range(3):
            report = run(config(tmp_path, sim))
            statuses.append(sorted(w.status for w in report.windows))
        sent = len(sim.requests)
    first = statuses[0]
    assert first.count(WindowStatus.OK) == 1 and WindowStatus.FAILED in first
    assert statuses[1].count(WindowStatus.OK) == 1
    assert statuses[2] == [WindowStatus.OK], "the third day's run stores the last year"
    assert sent == 3, "no request beyond the quota reached the service"


def test_the_run_report_warns_before_fetching(tmp_path):
    with WeatherSimulator() as sim:
        report = run(config(tmp_path, sim))
    assert any(re.search(r"needs about 31\d calls but the service allows 150 per day", w) for w in report.warnings)
