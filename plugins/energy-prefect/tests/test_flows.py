"""The flows run for real (Prefect's harness, the sources' simulators on 127.0.0.1): the daily flow end
to end, a failed ingest repaired by the next, triggers that meet a busy store, and the deployments'
schedules as a Prefect server holds them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from energy_prefect import flows
from energy_prefect.deployments import Schedule, deployments
from prefect.client.orchestration import get_client

from energy_core.api import Home
from energy_core.ingest.catalog import Catalog
from energy_core.ops import issued
from energy_core.storage.lake import Lake
from energy_core.storage.lock import StoreLock

pytestmark = pytest.mark.usefixtures("prefect_server")

TINY = {"epochs": 1, "seq_len": 72, "stride": 12, "batch_size": 8, "d_model": 16, "n_heads": 2, "n_layers": 1}
DEMAND = {"dataset": "eia.region", "regions": ["PACW"], "series": "demand", "max_age": "3h", "max_gap": "2h"}


def pending(home: Path) -> list[dict]:
    catalog = Catalog(home)
    try:
        return catalog.pending_reasons()
    finally:
        catalog.close()


def test_the_daily_flow_ingests_builds_trains_forecasts_and_monitors(tmp_path):
    result = flows.daily(home=str(tmp_path), sources=["eia"], regions=["PACW"], datasets=["eia.region"], days=14,
                         simulate=True, train_settings=TINY, objectives=[DEMAND], retries=0)
    [ingested] = result["ingest"]
    assert ingested["source"] == "eia" and ingested["failed"] == 0 and ingested["rows_stored"] > 0
    assert [t["entity"] for t in result["trained"]] == ["PACW"] and result["trained"][0]["run_id"]
    [forecast] = result["forecasts"]
    assert forecast["entity"] == "PACW" and forecast["hours"] == 24
    log = issued.issued(tmp_path, "PACW")
    assert log.height == 24 and log["issued_at"].n_unique() == 1
    monitor = result["monitor"]
    assert monitor["ok"] and {c["kind"] for c in monitor["checks"]} >= {"freshness", "completeness", "run"}
    assert (Home(tmp_path).model("PACW") / "checkpoint.json").exists()

    again = flows.daily(home=str(tmp_path), sources=["eia"], regions=["PACW"], datasets=["eia.region"], days=14,
                        simulate=True, train_settings=TINY, objectives=[DEMAND], retries=0)
    assert again["trained"] == []  # the model exists: "missing" trains nothing new
    assert issued.issued(tmp_path, "PACW")["issued_at"].n_unique() == 2


def test_a_failed_ingest_resumes_from_its_pending_windows_on_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_SIM_429_EVERY", "1")  # the simulator refuses every data request
    state = flows.ingest(home=str(tmp_path), sources=["eia"], regions=["PACW"], datasets=["eia.region"], days=1,
                         simulate=True, retries=0, return_state=True)
    assert state.is_failed()
    failed = pending(tmp_path)
    assert failed and {p["dataset"] for p in failed} == {"eia.region"}
    assert f"IngestFailedError: eia: {len(failed)} of {len(failed)} windows failed" in state.message
    assert "OVER_RATE_LIMIT" in state.message and "the next attempt fetches them first" in state.message

    monkeypatch.delenv("ENERGY_SIM_429_EVERY")
    [repaired] = flows.ingest(home=str(tmp_path), sources=["eia"], regions=["PACW"], datasets=["eia.region"],
                              days=0.25, simulate=True, retries=0)  # six hours: the older failed window is not in it
    assert repaired["resumed"] >= 1 and repaired["failed"] == 0 and pending(tmp_path) == []
    first = min(datetime.fromisoformat(p["start"]) for p in failed)
    stored = Lake(tmp_path).scan("eia.region").filter(pl.col("series") == "demand")
    assert stored.select(pl.col("ts").min()).collect().item() == first  # only the resumed window holds it


def test_an_ingest_that_meets_a_busy_store_waits_then_skips_having_written_nothing(tmp_path):
    lock = StoreLock(Home(tmp_path).processed_lock).__enter__()
    try:
        [skipped] = flows.ingest(home=str(tmp_path), sources=["eia"], regions=["PACW"], days=1, simulate=True,
                                 build=False, wait_s=0.5)
    finally:
        lock.__exit__(None, None, None)
    assert "ingest of eia skipped" in skipped["skipped"] and "locked by pid" in skipped["skipped"]
    assert not Home(tmp_path).catalog.exists() and Lake(tmp_path).datasets() == []


def test_the_monitor_flow_fails_naming_each_failed_check(tmp_path):
    state = flows.monitor(home=str(tmp_path), objectives=[{**DEMAND, "regions": ["ERCO"]}], return_state=True)
    assert state.is_failed()
    assert "1 check(s) failed: eia.region ERCO demand: no stored value" in state.message


def test_the_deployments_run_hourly_daily_at_the_local_hour_weekly_and_every_ten_minutes():
    schedule = Schedule(home="/srv/energy", sources=("eia", "caiso"), regions=("PACW", "CISO"),
                        timezone="America/Los_Angeles", daily_at="06:30", objectives=(DEMAND,),
                        webhooks=("http://127.0.0.1:9/hook",), train_settings={"epochs": 5})
    made = {d.name: d for d in deployments(schedule)}
    assert set(made) == {"energy-ingest-hourly", "energy-daily", "energy-train-weekly", "energy-monitor"}

    async def stored() -> dict[str, dict]:
        async with get_client() as client:
            out = {}
            for name, deployment in made.items():
                read = await client.read_deployment(await deployment.apply())
                out[name] = {"schedules": [s.schedule.model_dump(mode="json") for s in read.schedules],
                             "parameters": read.parameters,
                             "limit": read.global_concurrency_limit.limit if read.global_concurrency_limit else None}
            return out

    held = asyncio.run(stored())
    hourly, daily = held["energy-ingest-hourly"], held["energy-daily"]
    assert hourly["schedules"][0]["interval"] == 3600.0 and hourly["limit"] == 1
    assert hourly["parameters"] == {"home": "/srv/energy", "sources": ["eia", "caiso"], "regions": ["PACW", "CISO"],
                                    "simulate": False, "days": 2.0}
    assert daily["schedules"][0]["cron"] == "30 6 * * *"
    assert daily["schedules"][0]["timezone"] == "America/Los_Angeles"
    assert daily["parameters"]["objectives"] == [DEMAND] and daily["parameters"]["train_settings"] == {"epochs": 5}
    assert held["energy-train-weekly"]["schedules"][0]["cron"] == "0 3 * * sun"
    assert held["energy-monitor"]["schedules"][0]["interval"] == 600.0
    assert held["energy-monitor"]["parameters"]["webhooks"] == ["http://127.0.0.1:9/hook"]
    with pytest.raises(Exception, match="not an IANA time zone"):
        Schedule(timezone="Pacific Time")
    assert len(deployments(Schedule(train_on="never"))) == 3 and timedelta(hours=1) == Schedule().ingest_every


def test_the_plugin_declares_its_settings_without_loading_prefect_and_masks_the_key():
    code = ("import sys, json; from energy_core.plugin.manager import get_plugin_manager; get_plugin_manager(); "
            "print(json.dumps('prefect' in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0 and json.loads(loaded.stdout) is False, loaded.stderr
    plugins = subprocess.run([sys.executable, "-m", "energy_core", "plugins"], capture_output=True, text=True,
                             timeout=120)
    [prefect] = [p for p in json.loads(plugins.stdout) if p["name"] == "prefect"]
    assert prefect["distribution"] == "energy-prefect" and prefect["hooks"] == ["register_settings"]
    shown = subprocess.run([sys.executable, "-m", "energy_core", "config", "show"], capture_output=True, text=True,
                           timeout=120, env={"PATH": "/usr/bin:/bin", "PREFECT_API_KEY": "pnu_secret_value_1234"})
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)
    assert settings["environment"]["PREFECT_API_KEY"] == "***" and "pnu_secret_value_1234" not in shown.stdout
    assert settings["settings"]["PREFECT_API_KEY"]["secret"] is True


def test_serve_refuses_a_bad_objective_before_serving_anything(tmp_path):
    config = tmp_path / "energy.toml"
    config.write_text('[[monitor.objectives]]\ndataset = "eia.region"\nmax_gap = "two hours"\n')
    result = subprocess.run([sys.executable, "-m", "energy_prefect", "serve", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: max_gap must be a duration such as 3h, 90m, 2d or 1h30m, not "
                                     "'two hours'")
    usage = subprocess.run([sys.executable, "-m", "energy_prefect", "serve", "--help"], capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 0 and "--daily-at HH:MM" in usage.stdout
