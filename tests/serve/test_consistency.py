"""Readers never see a half-written state: requests answered while ``energy run`` stores new data and
rebuilds the features are each whole, from one build, and never go back in time."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import httpx

from tests.processes import ROOT, child_env, energy_command

from .conftest import ENTITY

HOUR = timedelta(hours=1)
SERIES = 4
"""eia.region stores demand, demand_forecast, net_generation and interchange."""


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_reads_while_energy_run_writes_are_whole_and_move_forward(server, home):
    command = energy_command("run", "--source", "eia", "--simulate", "--region", ENTITY, "--dataset", "eia.region",
                             "--start", "2024-02-10", "--end", "2024-03-20", "--home", str(home))
    observations = f"/v1/observations?dataset=eia.region&region={ENTITY}&start=2024-02-01&end=2024-03-21"
    state = {"rows": 0, "build": 0, "rounds": 0}
    with httpx.Client(base_url=server.url, timeout=60) as client, \
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=child_env()) as writer:
        while writer.poll() is None:
            _read_and_check(client, observations, state)
        out, err = writer.communicate()
        assert writer.returncode == 0, out + err
        _read_and_check(client, observations, state)
    assert state["rounds"] > 3, "the reads overlapped the run"
    assert state["rows"] == (29 + 20) * 24 * SERIES and state["build"] == 2
    latest = server.get(f"/v1/forecast/{ENTITY}").json()
    assert latest["data_through"] == "2024-03-20T23:00:00+00:00"


def _read_and_check(client: httpx.Client, observations: str, state: dict[str, int]) -> None:
    state["rounds"] += 1
    answer = client.get(observations)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["data"]
    keys = [(row["ts"], row["series"]) for row in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "sorted, no key twice"
    assert all(row["retrieved_at"] and row["unit"] == "MWh" for row in rows), "every row whole"
    assert len(rows) >= state["rows"], "a reader never goes back to fewer rows"
    state["rows"] = len(rows)

    context = client.get(f"/v1/context/{ENTITY}?hours=168").json()
    hours = [_utc(row["ts"]) for row in context["data"]]
    assert context["rows"] == 168 and hours == [hours[0] + k * HOUR for k in range(168)], "contiguous hours"
    assert hours[-1] == _utc(context["last_ts"]) and context["feature_build"] >= state["build"]

    forecast = client.get(f"/v1/forecast/{ENTITY}")
    assert forecast.status_code == 200, forecast.text
    issued = forecast.json()
    through = _utc(issued["data_through"])
    assert [_utc(row["ts"]) for row in issued["forecast"]] == [through + k * HOUR for k in range(1, 25)]
    assert issued["feature_build"] >= state["build"] - (1 if "x-energy-stale" in forecast.headers else 0)
    if issued["feature_build"] == context["feature_build"]:
        assert through == hours[-1], "a forecast starts after the last hour of the build it read"
    state["build"] = max(state["build"], context["feature_build"])
