"""A source revises its data: every revision stays in the lake, and the data reads as it was known at any
time, from Python, SQL, lineage and the feature build; on a local folder and on S3 (moto on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime

import polars as pl
import pytest

from energy_core.features import FeatureStore
from energy_core.home import LOCAL_HOME_VARIABLE
from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.storage.lake import Lake
from tests.processes import child_env, energy, energy_command
from tests.s3 import CREDENTIALS

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)


def ingest(home, env: dict) -> datetime:
    """One run of PACW demand for two days through the EIA simulator; returns when it ended."""
    config = RunConfig(sources=("eia",), start=START, end=END, home=home, regions=("PACW",),
                       datasets=("eia.region",), simulate=True, incremental=False, env=env,
                       retry=RetryPolicy(backoff_base=0.01))
    assert run(config).ok
    return datetime.now(UTC)


def demand(frame: pl.DataFrame) -> list[float]:
    return frame.filter(series="demand").sort("ts")["value"].to_list()


@pytest.fixture
def revised(lake_home, tmp_path):
    """A home that stored the simulator's demand, then a revision of every hour (a replayed table)."""
    hours = pl.datetime_range(datetime(2024, 1, 1, 1), datetime(2024, 1, 3), "1h", eager=True)
    table = pl.DataFrame({"timestamp": hours, "region": "PACW", "data_type": "demand",
                          "value": [1000.0 + i for i in range(hours.len())]})
    table.write_parquet(tmp_path / "revision.parquet")
    first_known = ingest(lake_home, {})
    ingest(lake_home, {"ENERGY_EIA_SIMULATOR_TABLE": str(tmp_path / "revision.parquet")})
    return lake_home, first_known, table["value"].to_list()


def cli_env(home) -> dict[str, str]:
    return {"ENERGY_HOME": str(home), LOCAL_HOME_VARIABLE: str(home.root)}


def test_a_revision_keeps_the_first_values_readable_as_of_then(revised):
    home, first_known, latest = revised
    lake = Lake(home)
    original = demand(lake.scan("eia.region", as_of=first_known).collect())
    assert demand(lake.scan("eia.region").collect()) == latest
    assert len(original) == 48 and original != latest
    assert lake.revisions("eia.region").filter(pl.col("series") == "demand").collect().height == 96

    sql = "SELECT value FROM eia_region WHERE series = 'demand' ORDER BY ts"
    now = energy("query", sql, "--format", "json", env=cli_env(home))
    then = energy("query", sql, "--format", "json", "--as-of", first_known.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                  env=cli_env(home))
    assert now.returncode == 0 and then.returncode == 0, now.stderr + then.stderr
    assert [r["value"] for r in json.loads(now.stdout)] == latest
    assert [r["value"] for r in json.loads(then.stdout)] == original


def test_lineage_shows_every_revision_and_the_run_that_wrote_it(revised):
    home, _, latest = revised
    result = energy("lineage", "--dataset", "eia.region", "--region", "PACW", "--series", "demand",
                    "--ts", "2024-01-01T05:00", env=cli_env(home))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    first, second = shown["revisions"]
    assert second["value"] == shown["row"]["value"] == latest[5]  # the table stamps hours by their end
    assert second["superseded_at"] is None
    assert first["superseded_at"] == second["retrieved_at"] and first["value"] != second["value"]
    assert first["written_by"] and second["written_by"]
    assert first["written_by"][0]["run_id"] != second["written_by"][0]["run_id"]


def test_features_build_as_of_a_past_time_sees_no_later_revision(revised):
    home, first_known, latest = revised
    store = FeatureStore(home)
    [then] = store.build(["PACW"], as_of=first_known)
    old = store.frame("PACW")["eia.demand"].drop_nulls().to_list()
    [now] = store.build(["PACW"])
    assert then.as_of is not None and now.as_of is None
    assert store.frame("PACW")["eia.demand"].drop_nulls().to_list() == latest
    assert old == demand(Lake(home).scan("eia.region", as_of=first_known).collect()) != latest


def test_credentials_of_a_shared_lake_never_reach_disk_or_output(s3_home):
    lake_home = s3_home
    result = energy("run", "--source", "eia", "--region", "PACW", "--start", "2024-01-01", "--end", "2024-01-02",
                    "--simulate", "--dataset", "eia.region", env=cli_env(lake_home))
    assert result.returncode == 0, result.stderr
    status = energy("status", env=cli_env(lake_home))
    assert "PACW" in status.stdout
    secret = CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == secret
    leaked = [p for p in lake_home.root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == [] and secret not in result.stdout + result.stderr + status.stdout + status.stderr


def test_two_machines_writing_one_lake_at_once_lose_nothing_and_see_each_other(s3_home, tmp_path):
    """Two processes, each with its own local home (catalog, raw cache, lock), ingest overlapping regions
    and months into one S3 lake at the same time."""
    machines = {"a": ("PACW", "ERCO"), "b": ("ERCO", "ISNE")}
    runs = {}
    for name, regions in machines.items():
        env = child_env({"ENERGY_HOME": str(s3_home), LOCAL_HOME_VARIABLE: str(tmp_path / name)})
        args = [arg for region in regions for arg in ("--region", region)]
        runs[name] = subprocess.Popen(
            energy_command("run", "--source", "eia", "--dataset", "eia.region", *args, "--start", "2024-01-20",
                           "--end", "2024-02-10", "--simulate", "--json"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = {}
    for name, process in runs.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        reports[name] = json.loads(out)
    stored = Lake(s3_home).scan("eia.region").collect()
    assert stored.select(pl.struct("region", "series", "ts").n_unique()).item() == stored.height
    hours = stored.filter(series="demand").group_by("region").len().sort("region").rows()
    assert hours == [("ERCO", 22 * 24), ("ISNE", 22 * 24), ("PACW", 22 * 24)]  # --end is inclusive
    for name in machines:
        status = energy("status", "--json", env={"ENERGY_HOME": str(s3_home),
                                                 LOCAL_HOME_VARIABLE: str(tmp_path / name)})
        assert status.returncode == 0, status.stderr
        shown = {run["run_id"] for run in json.loads(status.stdout)["runs"]}
        assert {reports["a"]["run_id"], reports["b"]["run_id"]} <= shown
