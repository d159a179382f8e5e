"""Operating energy day to day: incremental runs and --plan, status and lineage, quality flags that
reach the feature store, SQL, plots and energy.toml."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from energy_core.features import FeatureStore
from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.ops.quality import check, region_groups, save
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import quality_checks
from energy_core.storage.lake import Lake
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import FaultyEia, edit_json, json_response
from tests.processes import energy

JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
JAN_FEB = (JAN[0], datetime(2024, 3, 1, tzinfo=UTC))


def run_eia(home: Path, sim: EiaSimulator, span=JAN, **config):
    return run(RunConfig(sources=("eia",), start=span[0], end=span[1], home=home, regions=("PACW",),
                         env=sim.env(), **config))


# -- incremental runs and --plan ----------------------------------------------------------------

def test_runs_fetch_only_what_the_store_lacks_unless_asked_to_refetch(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        first = run_eia(tmp_path, sim)
        assert first.ok and first.skipped_stored == 0
        sent = len(sim.requests)
        longer = run_eia(tmp_path, sim, span=JAN_FEB)
        assert longer.skipped_stored == 2 and len(longer.windows) == 2, "January is stored: only February"
        assert all(w.spec.start.month == 2 for w in longer.windows)
        sent = len(sim.requests)
        revisable = run_eia(tmp_path, sim, lookback=timedelta(days=36500))
        assert revisable.skipped_stored == 0 and len(sim.requests) == sent, "refetched, from the raw cache"
        full = run_eia(tmp_path, sim, refresh=True)
        assert len(sim.requests) > sent and full.rows_stored == 0, "--full-refresh goes to the service"


def test_plan_says_what_is_stored_cached_or_to_fetch_and_sends_nothing(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim).ok
        shutil.rmtree(Lake(tmp_path).table_uri("eia.fuel"))  # the fuel data is gone, but still in the raw cache
        versions = Lake(tmp_path).versions()
        sent = len(sim.requests)
        result = energy("run", "--source", "eia", "--region", "PACW", "--start", "2024-01-01", "--end", "2024-02-29",
                        "--plan", "--home", str(tmp_path), env=sim.env())
        assert len(sim.requests) == sent, "a plan sends nothing"
    assert result.returncode == 0, result.stderr
    lines = {line.split("(PACW)")[0].strip(): line.split("(PACW)")[1].strip()
             for line in result.stdout.splitlines() if "(PACW)" in line}
    assert lines == {
        "eia.region 2024-01-01T00..2024-02-01T00": "stored, skipped",
        "eia.fuel 2024-01-01T00..2024-02-01T00": "raw cache (2 responses)",
        "eia.region 2024-02-01T00..2024-03-01T00": "fetch",
        "eia.fuel 2024-02-01T00..2024-03-01T00": "fetch",
    }
    assert "at least 2 request(s), about 3 call(s) of the budget" in result.stdout
    assert Lake(tmp_path).versions() == versions and Lake(tmp_path).table("eia.fuel") is None, "a plan writes nothing"


# -- status and lineage -------------------------------------------------------------------------

def test_status_shows_range_missing_hours_last_run_and_pending(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        assert run_eia(tmp_path, sim, span=(JAN[0], datetime(2024, 1, 10, tzinfo=UTC))).ok
        assert run_eia(tmp_path, sim, span=(datetime(2024, 1, 20, tzinfo=UTC), JAN[1])).ok
    with FaultyEia(*[json_response(500, '{"error": "down", "code": 500}')] * 20) as sim:
        failed = run_eia(tmp_path, sim, span=(JAN[1], JAN_FEB[1]), datasets=("eia.region",),
                         retry=RetryPolicy(max_attempts=2, backoff_base=0.01))
    assert not failed.ok
    result = energy("status", "--json", "--home", str(tmp_path))
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    row = next(r for r in status["coverage"] if r["dataset"] == "eia.region" and r["region"] == "PACW")
    assert row["first"].startswith("2024-01-01 00:00") and row["last"].startswith("2024-01-31 23:00")
    assert row["missing_hours"] == 10 * 24, "January 10-19 was never fetched"
    assert row["last_run"] == failed.run_id and row["last_outcome"] == "failed"
    assert [p["dataset"] for p in status["pending"]] == ["eia.region"]
    assert status["runs"][0]["status"] == "failed"
    table = energy("status", "--home", str(tmp_path))
    assert "eia.region" in table.stdout and "pending: 1 window(s)" in table.stdout


def test_every_stored_value_traces_to_its_run_and_requests(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        first = run_eia(tmp_path, sim)
        key = sim.api_key

    def revise(body: dict) -> None:
        for row in body["response"]["data"]:
            if row["period"] == "2024-01-05T04" and row["type"] == "D":
                row["value"] = "4321"

    with FaultyEia(edit_json(revise), api_key=key) as sim:
        revised = run_eia(tmp_path, sim, datasets=("eia.region",), refresh=True)
    for hour, expected_run, value in ((datetime(2024, 1, 5, 3, tzinfo=UTC), revised.run_id, 4321.0),
                                      (datetime(2024, 1, 5, 2, tzinfo=UTC), first.run_id, None)):
        result = energy("lineage", "--dataset", "eia.region", "--region", "PACW", "--series", "demand", "--ts",
                        f"{hour:%Y-%m-%dT%H:%M}", "--home", str(tmp_path))
        assert result.returncode == 0, result.stderr
        traced = json.loads(result.stdout)
        assert [w["run_id"] for w in traced["written_by"]] == [expected_run]
        assert traced["written_by"][0]["requests"] and key not in result.stdout
        assert value is None or traced["row"]["value"] == value
    kept = (Lake(tmp_path).revisions("eia.region").filter(region="PACW", series="demand", ts=datetime(2024, 1, 5, 3,
                                                                                                      tzinfo=UTC))
            .sort("retrieved_at").collect())
    assert kept["value"][1] == 4321.0 and kept["value"][0] != 4321.0, "the revised value is the latest"
    assert kept["superseded_at"].to_list() == [kept["retrieved_at"][1], None], "the first value is kept, superseded"


# -- quality --------------------------------------------------------------------------------------

def observations(series: str, values: list[float | None], dataset: str = "eia.region",
                 start: datetime = JAN[0], region: str = "PACW") -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [start + timedelta(hours=h) for h in range(len(values))], "source": "eia", "dataset": dataset,
        "region": region, "series": series, "value": values, "unit": "MWh", "retrieved_at": JAN[1],
    }, schema=POLARS_SCHEMA).select(COLUMNS)


def store_defects(home: Path, region: str = "PACW", shift: int = 0) -> None:
    """Ten weeks of a region's data (so every hour-of-week has a profile), with one defect of each kind at
    hours 500 to 950 (``+ shift``)."""
    hours = 24 * 7 * 10
    noise = [((h * 7919) % 201) - 100 for h in range(hours)]  # deterministic, +-100
    demand = [1000 + 200 * ((h % 24) >= 8) + noise[h] for h in range(hours)]
    demand[500 + shift] = 9000.0  # a spike
    demand[600 + shift] = -5.0  # impossible (and far off its profile too)
    demand[700 + shift:730 + shift] = [1100.0] * 30  # a frozen feed, at a plausible level
    demand[800 + shift:803 + shift] = [None] * 3  # a gap (nulls count as missing)
    generation = [d if d is not None else 1000.0 for d in demand]
    interchange = [0.0] * hours
    interchange[900 + shift] = 500.0  # demand no longer matches generation minus interchange
    fuels = [g * 0.5 for g in generation]
    fuels[950 + shift] = 10.0  # fuels no longer add up
    store = Lake(home)
    store.upsert(pl.concat([observations(name, values, region=region) for name, values in
                            (("demand", demand), ("net_generation", generation), ("interchange", interchange))]))
    store.upsert(pl.concat([observations(name, fuels, "eia.fuel", region=region) for name in ("gen.gas", "gen.coal")]))


def test_quality_flags_each_kind_of_defect_and_the_feature_store_masks_them(tmp_path):
    store_defects(tmp_path)
    flags = check(tmp_path, checks=quality_checks(get_plugin_manager()))

    def at(kind: str, series: str = "demand") -> set[int]:
        rows = flags.filter(pl.col("check") == kind, pl.col("series") == series)
        return {int((start - JAN[0]).total_seconds() // 3600) for start in rows["start"]}

    assert at("outlier") == {500, 600} and at("impossible") == {600} and at("stuck") == {700}
    assert at("gap") == {800} and flags.filter(check="gap", series="demand")["hours"].to_list() == [3]
    assert 900 in at("balance") and at("fuel_sum", "net_generation") == {950}
    assert flags.filter(check="duplicate").height == 0

    save(flags, tmp_path)
    (info,) = FeatureStore(tmp_path).build(["PACW"])
    mask = FeatureStore(tmp_path).arrays("PACW")[3]
    column = info.features.index("eia.demand")
    for hour, kept in ((500, 0), (600, 0), (715, 0), (501, 1), (900, 1)):
        assert mask[hour, column] == kept, f"hour {hour}"

    result = energy("quality", "--json", "--dataset", "eia.region", "--home", str(tmp_path))
    assert result.returncode == 0 and {f["check"] for f in json.loads(result.stdout)} >= {"outlier", "stuck", "gap"}
    table = energy("quality", "--home", str(tmp_path))
    assert "fuel_sum" in table.stdout and "flags:" in table.stdout
    without_eia = energy("quality", "--json", "--home", str(tmp_path), env={"ENERGY_DISABLE_PLUGINS": "eia"})
    kinds = {f["check"] for f in json.loads(without_eia.stdout)}
    assert without_eia.returncode == 0 and "stuck" in kinds and not kinds & {"fuel_sum", "balance"}


def test_quality_checks_a_large_home_a_group_of_regions_at_a_time_and_finds_the_same_flags(tmp_path):
    for shift, region in enumerate(("PACW", "ERCO", "NYIS")):
        store_defects(tmp_path, region, shift)
    plugins = quality_checks(get_plugin_manager())
    together, apart = check(tmp_path, checks=plugins), check(tmp_path, checks=plugins, rows_at_once=1)
    assert set(together["region"]) == {"PACW", "ERCO", "NYIS"}
    assert set(together["check"]) >= {"outlier", "impossible", "stuck", "gap", "balance", "fuel_sum"}
    assert apart.equals(together)
    assert region_groups({"PACW": 3, "ERCO": 5, "NYIS": 4}, 8) == [["ERCO"], ["NYIS", "PACW"]]
    assert region_groups({"MISO": 20, "ERCO": 1}, 8) == [["ERCO"], ["MISO"]]  # a region over the rows alone
    assert region_groups({"MISO": 20, "ERCO": 1}, 21) == [["ERCO", "MISO"]] and region_groups({}, 8) == []


# -- SQL and plots --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("built")
    assert run(RunConfig(sources=("eia",), start=JAN[0], end=JAN[1], home=home, regions=("PACW",),
                         simulate=True)).ok
    FeatureStore(home).build(["PACW"])
    return home


def test_sql_sees_every_dataset_and_the_fused_table(built):
    stored = Lake(built).scan("eia.region").filter(series="demand").collect()
    result = energy("query", "SELECT count(*) AS n, sum(value) AS total FROM eia_region WHERE series = 'demand'",
                    "--format", "json", "--home", str(built))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": stored.height, "total": stored["value"].sum()}]
    csv = energy("query", 'SELECT ts, "eia.demand" FROM features_PACW ORDER BY ts LIMIT 2', "--format", "csv",
                 "--home", str(built))
    assert csv.stdout.splitlines()[0] == "ts,eia.demand" and len(csv.stdout.splitlines()) == 3
    every = energy("query", "SELECT DISTINCT dataset FROM observations ORDER BY 1", "--format", "csv", "--home",
                   str(built))
    assert every.stdout.split() == ["dataset", "eia.fuel", "eia.region"]
    wrong = energy("query", "SELECT * FROM nowhere", "--home", str(built))
    assert wrong.returncode == 1
    assert "views: observations, revisions, eia_fuel, eia_region, features_PACW" in wrong.stderr
    latest = energy("query", "SELECT count(*) AS n FROM revisions WHERE dataset = 'eia.region' AND series = 'demand' "
                    "AND superseded_at IS NULL", "--format", "json", "--home", str(built))
    assert json.loads(latest.stdout) == [{"n": stored.height}], "the latest revisions are the stored values"


def test_plot_writes_a_png_of_the_fused_series(built, tmp_path):
    target = tmp_path / "pacw.png"
    result = energy("plot", "--entity", "PACW", "--start", "2024-01-05", "--end", "2024-01-12", "--output",
                    str(target), "--home", str(built))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(192 hours)" in result.stdout
    alone = tmp_path / "target-only.png"
    without_eia = energy("plot", "--entity", "PACW", "--output", str(alone), "--home", str(built),
                         env={"ENERGY_DISABLE_PLUGINS": "eia"})
    assert without_eia.returncode == 0, without_eia.stderr
    assert png_height(target) == 2 * png_height(alone)  # EIA's stacked fuel panel under the target's
    empty = energy("plot", "--entity", "PACW", "--start", "2030-01-01", "--home", str(built))
    assert empty.returncode == 1 and "no hours of PACW" in empty.stderr


def png_height(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[20:24], "big")


# -- energy.toml ----------------------------------------------------------------------------------

def test_energy_toml_sets_flags_budgets_and_home_and_flags_win(tmp_path):
    (tmp_path / "energy.toml").write_text(f"""
home = "{tmp_path / 'home'}"

[run]
sources = ["eia"]
regions = ["PACW"]
start = "2024-01-01"
end = "2024-01-07"
simulate = true
no_features = true

[budgets.eia]
requests = 3
per = 2.0
burst = 1
""")
    result = energy("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PACW" in result.stdout and Lake(tmp_path / "home").datasets() == ["eia.fuel", "eia.region"]
    override = energy("run", "--region", "ERCO", cwd=tmp_path)
    assert "ERCO" in override.stdout and "PACW" not in override.stdout.split("rows received")[1]
    shown = json.loads(energy("config", "show", cwd=tmp_path, env={"EIA_API_KEY": "KEEP-ME-SECRET"}).stdout)
    assert shown["budgets"]["eia"] == {"requests": 3.0, "per": 2.0, "burst": 1}
    assert shown["commands"]["run"]["regions"] == ["PACW"] and shown["commands"]["status"]["home"].endswith("home")
    assert shown["environment"]["EIA_API_KEY"] == "***"


@pytest.mark.parametrize(("content", "message"), [
    ('[run]\napi_key = "abc"\n', "looks like a secret"),
    ('[run]\nsourcez = ["eia"]\n', "has no setting(s) ['sourcez']"),
    ('[nosuchcommand]\nx = 1\n', "is not a command"),
    ("[budgets.eia]\nrequests = -1\n", "budgets.eia.requests"),
    ("[run\n", "invalid TOML"),
])
def test_a_bad_energy_toml_is_refused_with_what_to_fix(tmp_path, content, message):
    (tmp_path / "energy.toml").write_text(content)
    result = energy("plugins", cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr, result.stderr
