"""What a library call of ``run()`` leaves behind: the same report file the CLI points to, and the
catalog's records in the same words an existing home already holds."""

from __future__ import annotations

import json
import sqlite3

from energy_core.home import Home
from energy_core.ingest.catalog import Catalog, RunStatus
from energy_core.ingest.report import WindowStatus
from energy_core.plugin.simulator import SimResponse
from energy_eia.simulator import EiaSimulator
from tests.faults.conftest import FaultyEia, json_response, run_eia
from tests.processes import energy


def test_a_library_run_writes_the_report_the_cli_points_to(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        report = run_eia(tmp_path / "library", sim)
        result = energy("run", "--source", "eia", "--region", "PACW", "--dataset", "eia.region", "--start",
                        "2024-01-01", "--end", "2024-01-03", "--home", str(tmp_path / "cli"), env=sim.env())
    path = Home(tmp_path / "library").run_report(report.run_id)
    assert json.loads(path.read_text()) == json.loads(json.dumps(report.to_json(), default=str))
    assert result.returncode == 0, result.stderr
    [cli_report] = Home(tmp_path / "cli").run_ids()
    assert f"report: {Home(tmp_path / 'cli').run_report(cli_report)}" in result.stdout


def test_states_are_typed_and_kept_in_the_words_an_existing_home_holds(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        ok = run_eia(tmp_path, sim)
    with FaultyEia(*[json_response(401, '{"error": {"code": "API_KEY_INVALID"}}')] * 4) as sim:
        failed = run_eia(tmp_path, sim, refresh=True)
    assert [w.status for w in ok.windows] == [WindowStatus.OK]
    assert [w.status for w in failed.windows] == [WindowStatus.FAILED] and not failed.ok
    report = json.loads(Home(tmp_path).run_report(ok.run_id).read_text())
    assert [w["status"] for w in report["windows"]] == ["ok"]
    db = sqlite3.connect(Home(tmp_path).catalog)
    try:
        rows = db.execute("SELECT r.status, w.status, w.from_cache, w.requests FROM runs r JOIN windows w "
                          "USING (run_id) ORDER BY r.started_at").fetchall()
    finally:
        db.close()
    assert [(run, window) for run, window, _, _ in rows] == [("ok", "ok"), ("failed", "failed")]
    assert not any(cached for _, _, cached, _ in rows)
    catalog = Catalog(tmp_path)
    try:
        assert [r.status for r in catalog.runs()] == [RunStatus.FAILED, RunStatus.OK]
    finally:
        catalog.close()


def test_a_window_served_by_the_raw_cache_is_marked_so(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        first = run_eia(tmp_path, sim)
        again = run_eia(tmp_path, sim, incremental=False)
    [fetched], [cached] = first.windows, again.windows
    assert not fetched.from_cache and fetched.requests and not fetched.requests[0].startswith("cache: ")
    assert cached.from_cache and cached.requests == [f"cache: {r}" for r in fetched.requests]


def test_an_unreachable_window_is_failed_and_stays_pending(tmp_path):
    with FaultyEia(*[SimResponse(503)] * 10) as sim:
        report = run_eia(tmp_path, sim)
    assert [w.status for w in report.windows] == [WindowStatus.FAILED]
    catalog = Catalog(tmp_path)
    try:
        assert [p["dataset"] for p in catalog.pending_reasons()] == ["eia.region"]
    finally:
        catalog.close()
