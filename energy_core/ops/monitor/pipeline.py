"""Failed, crashed and quota-stopped runs, from the catalog.

The newest run must have ended well (or still be running). A window stays a problem for as long as
it is pending: from the run that failed it (or stopped before it, its quota spent or its key refused)
until a later run stores it, whatever other windows of its dataset did meanwhile.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from energy_core.home import Home
from energy_core.ingest.catalog import Catalog, RunStatus
from energy_core.ingest.report import WindowStatus
from energy_core.plugin.alerting import CheckKind, CheckResult

_BAD_RUNS = {
    RunStatus.FAILED: "failed",
    RunStatus.CRASHED: "crashed (its process is gone; the next run of its sources resumes its windows)",
    RunStatus.INTERRUPTED: "was interrupted (the next run of its sources resumes its windows)",
}


def check_pipeline(home: Home | Path) -> list[CheckResult]:
    """The newest run's outcome, and one failing result per dataset and region with failed or stopped
    windows still pending."""
    home = Home.of(home)
    if not home.catalog.exists():
        return []
    catalog = Catalog(home)
    try:
        newest = catalog.runs(limit=1)
        pending = catalog.pending_reasons()
        runs = {p["run_id"] for p in pending}
        windows = [w for run_id in sorted(runs) for w in catalog.windows(run_id)]
    finally:
        catalog.close()
    results = []
    if newest:
        run = newest[0]
        bad = _BAD_RUNS.get(run.status)
        summary = (f"the newest run, {run.run_id}, {bad}: {run.command}; `energy status` shows its windows" if bad
                   else f"the newest run, {run.run_id}, is {run.status}: {run.command}")
        results.append(CheckResult(CheckKind.RUN, "newest run", bad is None, summary))
    return results + _pending_windows(pending, windows)


def _pending_windows(pending: list[dict[str, Any]], windows: list[dict[str, Any]]) -> list[CheckResult]:
    """Pending windows whose last attempt failed (WINDOW) or was skipped after a spent quota or a
    refused key (QUOTA), grouped by kind, dataset and region."""
    outcomes = {(w["run_id"], w["source"], w["dataset"], w["start"], w["end"], json.dumps(w["regions"])): w
                for w in windows}
    groups: dict[tuple[CheckKind, str, str], list[dict[str, Any]]] = defaultdict(list)
    for window in pending:
        key = (window["run_id"], window["source"], window["dataset"], window["start"], window["end"],
               json.dumps(window["regions"]))
        outcome = outcomes.get(key)
        if outcome is None:  # not attempted yet: in flight, or its run crashed (the run check says so)
            continue
        status = WindowStatus(outcome["status"])
        kind = {WindowStatus.FAILED: CheckKind.WINDOW, WindowStatus.SKIPPED: CheckKind.QUOTA}.get(status)
        if kind is None:
            continue
        for region in window["regions"] or ["*"]:
            groups[(kind, window["dataset"], region)].append({**window, "error": outcome["error"]})
    results = []
    for (kind, dataset, region), items in sorted(groups.items()):
        latest = max(items, key=lambda w: w["start"])
        verb = "failed" if kind is CheckKind.WINDOW else "were not attempted"
        summary = (f"{dataset} {region}: {len(items)} window(s) {verb} and are pending, the latest "
                   f"{latest['start'][:10]} to {latest['end'][:10]} (run {latest['run_id']}): "
                   f"{latest['error'] or 'no detail'}; the next run of {latest['source']} fetches them again")
        results.append(CheckResult(kind, f"{dataset} {region}", False, summary, float(len(items))))
    return results
