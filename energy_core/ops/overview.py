"""The state of a home at a glance: freshness per dataset and region, recent runs, the open problems,
request traffic per source, built entities with their models, and how accurate issued forecasts were.

The status page, ``/v1/status`` and the Prometheus metrics all read one :class:`Overview`.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from energy_core.home import Home
from energy_core.ingest.catalog import Catalog, RunStatus
from energy_core.ingest.report import WindowStatus
from energy_core.ops import issued, live
from energy_core.ops.status import status
from energy_core.storage.lake import Lake

RECENT_RUNS = 20
QUALITY_PROBLEMS = 20
"""Flagged series listed one by one among the problems; the rest are counted."""
ACCURACY_DAYS = 30
"""Forecasts issued this many days back are scored."""
_TRAFFIC = ("requests", "retries", "throttled", "cache_hits")


class ProblemKind(enum.StrEnum):
    """What an open problem is. Alerts (drift, freshness) arrive with the monitoring issue; until then
    these are what needs a person."""

    RUN = "run"
    """The newest run failed, crashed or was interrupted."""
    WINDOW = "window"
    """The newest window that fetched a dataset and region failed."""
    STOPPED = "stopped"
    """A window was not attempted: an earlier one found the quota spent or the key refused."""
    PENDING = "pending"
    """Windows planned but not stored; the next run of their source fetches them first."""
    QUALITY = "quality"
    """Spans the last ``energy quality`` flagged."""


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    subject: str
    detail: str
    run_id: str | None = None


@dataclass(frozen=True)
class Freshness:
    dataset: str
    region: str
    first: datetime
    last: datetime
    """The start of the last stored hour."""
    hours: int
    missing_hours: int
    rows: int
    last_run: str | None
    last_outcome: str | None

    def lag(self, now: datetime) -> timedelta:
        """How long ago the last stored hour ended."""
        return now - (self.last + timedelta(hours=1))


@dataclass(frozen=True)
class Traffic:
    """Requests of one source, summed over every run report."""

    source: str
    requests: int
    retries: int
    throttled: int
    cache_hits: int


@dataclass(frozen=True)
class EntityState:
    entity: str
    build: int
    built_at: str
    last_ts: str
    features: int
    target: str
    model: issued.ModelIdentity | None
    accuracy: issued.Accuracy | None
    """Of the forecasts issued in the last :data:`ACCURACY_DAYS` days, where the actual is known."""


@dataclass(frozen=True)
class Overview:
    generated_at: datetime
    freshness: list[Freshness]
    runs: list[dict[str, Any]]
    """Newest first, at most :data:`RECENT_RUNS`."""
    runs_by_status: dict[str, int]
    windows_by_status: dict[str, int]
    rows_stored: int
    pending: int
    problems: list[Problem]
    traffic: list[Traffic]
    entities: list[EntityState]
    quality_flags: dict[str, int]
    """Spans flagged by the last ``energy quality``, per check."""

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """A JSON-ready dict (instants as ISO text; each freshness with its lag in hours at ``now``,
        by default when the overview was read)."""
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
            return value

        data = plain(self)
        for entry, fresh in zip(data["freshness"], self.freshness, strict=True):
            entry["lag_hours"] = round(fresh.lag(now or self.generated_at).total_seconds() / 3600, 2)
        return data


class OverviewReader:
    """Builds :class:`Overview`\\ s of one home; keeps what never changes (finished run reports) between calls."""

    def __init__(self, home: Home | Path) -> None:
        self.home = Home.of(home)
        self._lake = Lake(self.home)
        self._reports: dict[str, dict[str, dict[str, int]]] = {}

    def stamp(self) -> tuple[Any, ...]:
        """Changes whenever anything an overview reads changes:
        the catalog, run reports, the lake's table versions, feature exports, quality flags and issued forecasts."""
        home = self.home
        files = [home.catalog, home.catalog.with_name(home.catalog.name + "-wal"), home.runs, home.quality_flags,
                 home.feature_exports,
                 *(max(entity.glob("month=*"), default=entity) for entity in issued.log_root(home).glob("entity=*"))]
        return *(live.stamp(path) for path in files), tuple(self._lake.versions().items())

    def read(self, now: datetime | None = None) -> Overview:
        now = now or datetime.now(UTC)
        state = status(self.home)
        freshness = [Freshness(**{k: row[k] for k in Freshness.__dataclass_fields__})
                     for row in state.coverage.iter_rows(named=True)]
        windows_by_status: dict[str, int] = {}
        problems: list[Problem] = []
        if self.home.catalog.exists():
            catalog = Catalog(self.home)
            try:
                windows = catalog.windows()
            finally:
                catalog.close()
            for window in windows:
                windows_by_status[window["status"]] = windows_by_status.get(window["status"], 0) + 1
            problems += _window_problems(freshness, windows)
        runs_by_status: dict[str, int] = {}
        for run in state.runs:
            runs_by_status[str(run["status"])] = runs_by_status.get(str(run["status"]), 0) + 1
        if state.runs and state.runs[0]["status"] in (RunStatus.FAILED, RunStatus.CRASHED, RunStatus.INTERRUPTED):
            newest = state.runs[0]
            problems.insert(0, Problem(ProblemKind.RUN, newest["run_id"], f"{newest['status']}: {newest['command']}",
                                       newest["run_id"]))
        problems += _pending_problems(state.pending)
        flags = _quality_flags(self.home)
        problems += _quality_problems(flags)
        quality = {check: int(n) for check, n in flags.group_by("check").agg(pl.col("n").sum()).iter_rows()}
        return Overview(
            generated_at=now, freshness=freshness, runs=[{**run, "status": str(run["status"])}
                                                        for run in state.runs[:RECENT_RUNS]],
            runs_by_status=runs_by_status, windows_by_status=windows_by_status,
            rows_stored=sum(run["rows_stored"] or 0 for run in state.runs), pending=len(state.pending),
            problems=problems, traffic=self._traffic(), entities=[self._entity(e, now) for e in
                                                                  live.built_entities(self.home)],
            quality_flags=quality)

    def _traffic(self) -> list[Traffic]:
        totals: dict[str, dict[str, int]] = {}
        for run_id in self.home.run_ids():
            if run_id.startswith("."):  # a report being written
                continue
            if run_id not in self._reports:  # a report is written once, when its run ends
                self._reports[run_id] = _report_traffic(self.home.run_report(run_id))
            for source, counts in self._reports[run_id].items():
                into = totals.setdefault(source, dict.fromkeys(_TRAFFIC, 0))
                for name in _TRAFFIC:
                    into[name] += counts.get(name, 0)
        return [Traffic(source, **counts) for source, counts in sorted(totals.items())]

    def _entity(self, entity: str, now: datetime) -> EntityState:
        path = live.export_path(self.home, entity)
        info = json.loads(pq.read_schema(path).metadata[b"energy.build"])
        model_dir = self.home.model(entity)
        model = issued.ModelIdentity.of(model_dir) if (model_dir / issued.CHECKPOINT).exists() else None
        return EntityState(entity=entity, build=info["build"], built_at=info["built_at"], last_ts=info["last_ts"],
                           features=len(info["features"]), target=info["target"], model=model,
                           accuracy=entity_accuracy(self.home, entity, now - timedelta(days=ACCURACY_DAYS),
                                                    datetime.fromisoformat(info["last_ts"])))


def entity_accuracy(home: Home | Path, entity: str, since: datetime, last: datetime) -> issued.Accuracy | None:
    """How accurate the forecasts issued for ``entity`` since ``since`` were, against its built target
    (whose last hour is ``last``)."""
    issues = issued.issued(home, entity, since=since)
    first = issues["ts"].min()
    if not isinstance(first, datetime) or first > last:
        return None
    hours = int((last - first) / timedelta(hours=1)) + 1
    return issued.accuracy(issues, live.read(home, entity, hours).target())


def _window_problems(freshness: list[Freshness], windows: list[dict[str, Any]]) -> list[Problem]:
    """The newest window of each (dataset, region) whose outcome was not a success."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for window in windows:  # oldest first
        for region in window["regions"] or ["*"]:
            newest[(window["dataset"], region)] = window
    problems = []
    for fresh in freshness:
        last = newest.get((fresh.dataset, fresh.region)) or newest.get((fresh.dataset, "*"))
        if last is not None and not WindowStatus(last["status"]).succeeded:
            kind = ProblemKind.STOPPED if last["status"] == WindowStatus.SKIPPED else ProblemKind.WINDOW
            problems.append(Problem(kind, f"{fresh.dataset} {fresh.region}",
                                    f"{last['status']} {last['start'][:10]} to {last['end'][:10]}: "
                                    f"{last['error'] or 'no detail'}", last["run_id"]))
    return problems


def _pending_problems(pending: list[dict[str, Any]]) -> list[Problem]:
    by_reason: dict[tuple[str, str], int] = {}
    for window in pending:
        key = (f"{window['source']} {window['dataset']}", window["reason"])
        by_reason[key] = by_reason.get(key, 0) + 1
    return [Problem(ProblemKind.PENDING, subject, f"{n} window(s) pending: {reason}")
            for (subject, reason), n in sorted(by_reason.items())]


def _quality_problems(flags: pl.DataFrame) -> list[Problem]:
    """The :data:`QUALITY_PROBLEMS` series flagged most recently, and how many more there are."""
    problems = [Problem(ProblemKind.QUALITY, f"{d} {r} {s}",
                        f"{n} {check} span(s), the last ending {end:%Y-%m-%d %H}:00")
                for check, d, r, s, n, end in flags.head(QUALITY_PROBLEMS).iter_rows()]
    if flags.height > QUALITY_PROBLEMS:
        problems.append(Problem(ProblemKind.QUALITY, f"{flags.height - QUALITY_PROBLEMS} more flagged series",
                                "`energy quality --json` lists every flag"))
    return problems


def _quality_flags(home: Home) -> pl.DataFrame:
    """check, dataset, region, series, spans and the last flagged hour, per flagged series."""
    columns = pl.Schema({"check": pl.String(), "dataset": pl.String(), "region": pl.String(), "series": pl.String(),
                         "n": pl.UInt32(), "end": pl.Datetime("us", "UTC")})
    if not home.quality_flags.exists():
        return columns.to_frame()
    flags = pl.read_parquet(home.quality_flags)
    return (flags.group_by("check", "dataset", "region", "series")
            .agg(n=pl.len(), end=pl.col("end").max()).sort("end", descending=True).cast(columns))


def _report_traffic(path: Path) -> dict[str, dict[str, int]]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {source: {name: int(counts.get(name, 0)) for name in _TRAFFIC}
            for source, counts in (report.get("requests") or {}).items()}
