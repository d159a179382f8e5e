"""The open problems a person needs to see, from the real catalog and the saved quality flags: a window
stopped by a spent quota, windows left pending, and what the last ``energy quality`` flagged."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from energy_core.ingest.catalog import Catalog, FinishedRun, RunStatus
from energy_core.ingest.report import WindowOutcome, WindowStatus
from energy_core.ops.overview import QUALITY_PROBLEMS, OverviewReader, ProblemKind
from energy_core.plugin.interfaces import Window
from energy_core.storage.flags import FLAG_SCHEMA, save
from energy_core.storage.lake import Lake
from energy_core.storage.schema import POLARS_SCHEMA

from .conftest import ENTITY

MARCH = Window("eia", "eia.region", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), (ENTITY,))
APRIL = Window("eia", "eia.region", datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC), (ENTITY,))


def test_a_quota_stop_pending_windows_and_quality_flags_are_open_problems(home):
    catalog = Catalog(home)
    try:
        catalog.begin_run("r-quota", command="run eia", started_at=datetime.now(UTC), config={}, plugins={},
                          windows=[MARCH, APRIL])
        spent = "eia: quota of 9000 calls per hour spent; the windows left stay pending: run again after 21:00 UTC"
        catalog.finish_run(FinishedRun(
            "r-quota", RunStatus.FAILED, datetime.now(UTC), 0, stored=[], found_stored=[], series_rows={},
            windows=[WindowOutcome(MARCH, WindowStatus.FAILED, error=spent),
                     WindowOutcome(APRIL, WindowStatus.SKIPPED, error=f"not attempted after: {spent}")]))
    finally:
        catalog.close()
    start = datetime(2024, 1, 5, tzinfo=UTC)
    save(pl.DataFrame([{"check": "stuck", "dataset": "eia.region", "region": ENTITY, "series": f"s{k:02d}",
                        "start": start, "end": start.replace(day=6 + k % 20), "hours": 24, "detail": "stuck"}
                       for k in range(QUALITY_PROBLEMS + 3)], schema=FLAG_SCHEMA), home)

    overview = OverviewReader(home).read()
    kinds = [problem.kind for problem in overview.problems]
    assert kinds[:4] == [ProblemKind.RUN, ProblemKind.STOPPED, ProblemKind.PENDING, ProblemKind.PENDING]
    run, stopped, pending = overview.problems[:3]
    assert run.subject == "r-quota" and run.detail == "failed: run eia"
    assert stopped.subject == f"eia.region {ENTITY}" and "quota of 9000 calls per hour spent" in stopped.detail
    assert pending.detail.startswith("1 window(s) pending: eia: quota")
    quality = [p for p in overview.problems if p.kind is ProblemKind.QUALITY]
    assert len(quality) == QUALITY_PROBLEMS + 1 and quality[-1].subject == "3 more flagged series"
    assert overview.quality_flags == {"stuck": QUALITY_PROBLEMS + 3}
    assert overview.runs_by_status == {"ok": 1, "failed": 1} and overview.windows_by_status["skipped"] == 1


def test_the_overview_stamp_changes_when_the_lake_commits_and_only_then(tmp_path):
    """The status endpoint rebuilds its overview when the stamp changes; a commit to the lake with nothing
    else touched (another machine's run on a shared lake writes no local catalog) must change it."""
    reader = OverviewReader(tmp_path)
    empty = reader.stamp()
    rows = pl.DataFrame({"ts": [datetime(2024, 3, 1, tzinfo=UTC)], "source": ["eia"], "dataset": ["eia.region"],
                         "region": [ENTITY], "series": ["demand"], "value": [1.0], "unit": ["MWh"],
                         "retrieved_at": [datetime(2024, 3, 2, tzinfo=UTC)]}, schema=POLARS_SCHEMA)
    lake = Lake(tmp_path)
    lake.upsert(rows)
    stored = reader.stamp()
    assert stored != empty and reader.stamp() == stored, "a commit changes it; reading again does not"
    lake.upsert(rows.with_columns(value=pl.lit(2.0), retrieved_at=pl.lit(datetime(2024, 3, 3, tzinfo=UTC))))
    assert reader.stamp() != stored
