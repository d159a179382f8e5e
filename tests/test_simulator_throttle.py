"""Simulators playing a slow or throttling service: real HTTP over loopback, no mocks."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from energy_caiso.simulator import CaisoSimulator
from energy_caiso.source import classify as caiso_classify
from energy_weather.parse import classify as weather_classify
from energy_weather.simulator import WeatherSimulator

from energy_core.api import ConfigError, RateBudget, RateLimitedError, SimRequest, SimResponse, Simulator, Throttle
from energy_core.plugin.interfaces import HttpResponse
from energy_core.plugin.simulator import JITTER_S, Traffic, _Gate
from energy_eia.parse import classify as eia_classify
from energy_eia.simulator import EiaSimulator


class Plain(Simulator):
    def handle(self, request: SimRequest) -> SimResponse:
        return SimResponse(200, b"ok", {"Content-Type": "text/plain"})

    def env(self) -> dict[str, str]:
        return {}


def statuses(sim: Simulator, count: int, path: str = "/data") -> list[int]:
    with httpx.Client() as client:
        return [client.get(f"{sim.url}{path}").status_code for _ in range(count)]


def test_latency_is_served_concurrently():
    clients = [httpx.Client() for _ in range(10)]
    try:
        with Plain(throttle=Throttle(latency_s=0.5)) as sim, ThreadPoolExecutor(10) as pool:
            began = time.monotonic()
            answers = list(pool.map(lambda c: c.get(f"{sim.url}/data"), clients))
            took = time.monotonic() - began
    finally:
        for client in clients:
            client.close()
    assert [a.status_code for a in answers] == [200] * 10
    assert all(a.elapsed.total_seconds() >= 0.5 for a in answers)
    assert took < 1.5  # ten waits of 0.5 s side by side, not 5 s in a row
    assert sim.traffic.max_in_flight == 10 and sim.traffic.in_flight == 0
    assert sim.traffic.requests == 10 and sim.traffic.throttled == 0


def test_requests_beyond_the_rate_get_429_take_no_token_and_are_counted():
    with Plain(throttle=Throttle(rate=1, burst=2)) as sim:  # slow enough that a loaded machine's delays are small
        assert statuses(sim, 6) == [200, 200, 429, 429, 429, 429]  # the burst, then nothing for a second
        time.sleep(1.1)  # one token back (refused requests took none)
        assert statuses(sim, 2) == [200, 429]
    traffic = sim.traffic
    assert (traffic.requests, traffic.throttled, traffic.over_rate) == (8, 5, 5)
    assert len(traffic.admitted_at) == 3 and len(sim.requests) == 8
    assert sim.budget == RateBudget(1, per=1.0, burst=2)


def test_a_client_that_keeps_to_the_rate_is_always_admitted():
    """Each request goes out one interval after the answer to the last, so the server, which judged that
    one before answering, sees them at least an interval apart however late a busy machine delivers."""
    rate, count = 10, 10
    with Plain(throttle=Throttle(rate=rate)) as sim, httpx.Client() as client:
        codes, answered = [], -1.0
        for _ in range(count):
            time.sleep(max(0.0, answered + 1 / rate - time.monotonic()))
            codes.append(client.get(f"{sim.url}/data").status_code)
            answered = time.monotonic()
    assert codes == [200] * count and sim.traffic.over_rate == 0
    assert sim.traffic.max_in(0.5) <= 1 + rate * 0.5  # burst + rate x span: never over the budget


def test_a_request_delivered_a_little_early_is_admitted_and_a_faster_one_refused():
    """Loopback can deliver a request spaced exactly at the rate up to JITTER_S early."""
    gate = _Gate(Throttle(rate=10), Traffic())
    arrivals = [0.0, 0.1, 0.2 - 0.9 * JITTER_S, 0.3, 0.33]  # on time twice, a little early, on time, far too soon
    verdicts = [gate.judge(at).name for at in arrivals]
    assert verdicts == ["ADMITTED", "ADMITTED", "ADMITTED", "ADMITTED", "OVER_RATE"], verdicts


def test_throttle_every_nth_request_whatever_the_rate():
    with Plain(throttle=Throttle(throttle_every=3)) as sim:
        assert statuses(sim, 7) == [200, 200, 429, 200, 200, 429, 200]
    assert (sim.traffic.throttled, sim.traffic.over_rate, len(sim.traffic.admitted_at)) == (2, 0, 5)
    assert sim.budget is None  # no rate, so the class's budget (none here) stands


def test_max_in_counts_the_busiest_span():
    traffic = Traffic()
    assert traffic.max_in(1.0) == 0
    for at in (0, 0.1, 0.2, 1.0, 1.05, 1.1, 1.15, 3.0):
        traffic.admitted(at)
    assert traffic.max_in(0) == 1
    assert traffic.max_in(0.2) == 4  # 1.0 .. 1.15
    assert traffic.max_in(1.0) == 5  # 0.1 .. 1.1 (and 0.2 .. 1.15)
    assert traffic.max_in(10) == 8


def test_from_env_reads_the_four_variables():
    env = {"ENERGY_SIM_RATE": "5", "ENERGY_SIM_BURST": "3", "ENERGY_SIM_LATENCY": "0.4", "ENERGY_SIM_429_EVERY": "7"}
    assert Throttle.from_env(env) == Throttle(rate=5.0, burst=3, latency_s=0.4, throttle_every=7)
    assert Throttle.from_env({}) == Throttle() == Throttle.from_env(dict.fromkeys(env, ""))


@pytest.mark.parametrize(("name", "value"), [
    ("ENERGY_SIM_RATE", "fast"), ("ENERGY_SIM_RATE", "-1"), ("ENERGY_SIM_RATE", "nan"),
    ("ENERGY_SIM_BURST", "0"), ("ENERGY_SIM_BURST", "1.5"), ("ENERGY_SIM_LATENCY", "-0.1"),
    ("ENERGY_SIM_LATENCY", "inf"), ("ENERGY_SIM_429_EVERY", "often"),
])
def test_from_env_refuses_bad_values_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=rf"{name}='{value}': expected .*"):
        Throttle.from_env({name: value})


@pytest.mark.parametrize("simulator", [EiaSimulator, CaisoSimulator, WeatherSimulator])
def test_each_simulator_takes_its_throttle_and_budget_from_the_environment(simulator):
    default = simulator.budget
    sim = simulator.from_env({"ENERGY_SIM_RATE": "5", "ENERGY_SIM_BURST": "2", "ENERGY_SIM_LATENCY": "0.4"})
    assert sim.throttle == Throttle(rate=5, burst=2, latency_s=0.4)
    assert sim.budget == RateBudget(5, per=1.0, burst=2)
    assert simulator.budget == default and simulator.from_env({}).budget == default


def answer_429(sim: Simulator, path: str) -> HttpResponse:
    with sim, httpx.Client() as client:
        answer = client.get(f"{sim.url}{path}")
    assert answer.status_code == 429 and sim.traffic.throttled == 1
    return HttpResponse(429, answer.headers.get("content-type", ""), answer.content, path,
                        answer.headers.get("retry-after"))


def test_eia_throttles_with_over_rate_limit_and_retry_after():
    response = answer_429(EiaSimulator(throttle=Throttle(throttle_every=1, retry_after="2")),
                          "/v2/electricity/rto/region-data/data/")
    assert b'"code":"OVER_RATE_LIMIT"' in response.body and response.retry_after == "2"
    assert isinstance(eia_classify(response), RateLimitedError)


def test_eia_meters_only_its_data_routes():
    with EiaSimulator(throttle=Throttle(throttle_every=1)) as sim:
        assert statuses(sim, 2, "/v9/nothing") == [500, 500]  # "Not found.", never throttled
    assert sim.traffic.throttled == 0


def test_caiso_throttles_with_its_acceptable_use_page_and_no_retry_after():
    response = answer_429(CaisoSimulator(throttle=Throttle(throttle_every=1)), "/oasisapi/SingleZip")
    assert b"Acceptable Use Policy Violation" in response.body and response.retry_after is None
    error = caiso_classify(response)
    assert isinstance(error, RateLimitedError) and error.retry_after == 5.0  # the page's own pause


def test_open_meteo_throttles_in_its_error_envelope():
    response = answer_429(WeatherSimulator(throttle=Throttle(throttle_every=1)), "/v1/archive")
    assert response.body.startswith(b'{"error":true,"reason":') and response.retry_after == "1"
    assert isinstance(weather_classify(response), RateLimitedError)
