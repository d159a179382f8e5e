"""Prefect flows over energy's scheduled jobs: ingest (a task per source, retried), quality, features,
training, forecasting, monitoring, and ``daily``, which runs them in that order.

The flows call the library (:mod:`energy_core.api`), never the command line. Every flow is safe to
start while another runs on the same home: a job waits for the lock of the store it writes and, after
``wait_s``, is skipped with a warning having changed nothing. An ingest that fails leaves its windows
pending, and the next ingest of that source fetches them first.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from energy_core import api


class IngestFailedError(RuntimeError):
    """Windows of a source failed; they are pending and the next ingest of the source fetches them first."""


class ChecksFailedError(RuntimeError):
    """``energy monitor`` found failing checks (the flow's log lists them)."""


@task(name="ingest-source", task_run_name="ingest {source}")
def ingest_source(home: str, source: str, regions: list[str], datasets: list[str], days: float,
                  lookback_days: float | None, simulate: bool, wait_s: float) -> dict[str, Any]:
    """One run of one source; raises when any window failed, so Prefect retries it (each retry fetches
    the failed windows first)."""
    logger = get_run_logger()
    try:
        report = api.ingest_source(home, source, regions=regions, datasets=datasets, days=days,
                                   lookback_days=lookback_days, simulate=simulate, wait_s=wait_s)
    except api.StoreBusyError as exc:
        logger.warning("%s", exc)
        return {"source": source, "skipped": str(exc)}
    summary = {"source": source, "run_id": report.run_id, "windows": len(report.windows),
               "resumed": report.resumed, "failed": len(report.failed), "rows_stored": report.rows_stored,
               "rows": sorted({f"{d} {r}" for d, r in report.rows})}
    logger.info("%s: run %s, %d window(s) (%d resumed), %d row(s) new or changed", source, report.run_id,
                len(report.windows), report.resumed, report.rows_stored)
    if not report.ok:
        raise IngestFailedError(f"{source}: {len(report.failed)} of {len(report.windows)} windows failed (first: "
                                f"{report.failed[0].error}); they are pending, and the next attempt fetches them "
                                "first")
    return summary


@task(name="build-features")
def build_features(home: str, entities: list[str] | None, wait_s: float) -> list[str]:
    """Build the entities whose data changed since their last build; return those built."""
    logger = get_run_logger()
    try:
        builds = api.build_features(home, entities, wait_s=wait_s)
    except api.StoreBusyError as exc:
        logger.warning("%s", exc)
        return []
    for info in builds:
        logger.info("built %s: build %d, %d rows, %d changed", info.entity, info.build, info.rows, info.changed_rows)
    return [info.entity for info in builds]


@task(name="check-quality")
def check_quality(home: str) -> int:
    flagged = api.check_quality(home)
    get_run_logger().info("quality: %d span(s) flagged", flagged)
    return flagged


@task(name="train", task_run_name="train {entity}")
def train_entity(home: str, entity: str, settings: dict[str, Any] | None, wait_s: float) -> dict[str, Any]:
    logger = get_run_logger()
    try:
        result = api.train_model(home, entity, settings, wait_s=wait_s)
    except api.StoreBusyError as exc:
        logger.warning("%s", exc)
        return {"entity": entity, "skipped": str(exc)}
    logger.info("trained %s: %s", entity, result)
    return {"entity": entity, **result}


@task(name="forecast", task_run_name="forecast {entity}")
def forecast_entity(home: str, entity: str) -> dict[str, Any]:
    issue = api.issue_forecast(home, entity)
    get_run_logger().info("%s: forecast of %d hours from %s issued at %s", entity, len(issue.ts),
                          issue.ts[0].isoformat(), issue.issued_at.isoformat())
    return {"entity": entity, "issued_at": issue.issued_at.isoformat(), "first": issue.ts[0].isoformat(),
            "hours": len(issue.ts)}


@task(name="monitor")
def monitor_home(home: str, objectives: list[dict[str, Any]], webhooks: list[str], quality_days: float,
                 drift_days: float, drift_tolerance: float, wait_s: float) -> dict[str, Any]:
    """``energy monitor`` once; returns its report (``ok`` false when any check failed)."""
    settings = api.MonitorSettings(objectives=tuple(api.Objective.from_mapping(o) for o in objectives),
                                   quality_days=quality_days, drift_days=drift_days, drift_tolerance=drift_tolerance)
    logger = get_run_logger()
    try:
        report = api.monitor(home, settings, webhooks=webhooks, wait_s=wait_s)
    except api.StoreBusyError as exc:
        logger.warning("%s", exc)
        return {"ok": True, "skipped": str(exc)}
    for failure in report.failures:
        logger.warning("FAIL %s %s", failure.kind, failure.summary)
    return report.to_json()


@flow(name="energy-ingest")
def ingest(home: str = "data", sources: list[str] | None = None, regions: list[str] | None = None,
           datasets: list[str] | None = None, days: float = 3.0, lookback_days: float | None = None,
           simulate: bool = False, build: bool = True, retries: int = 2, retry_delay_s: float = 300.0,
           wait_s: float = 600.0) -> list[dict[str, Any]]:
    """Fetch each source for the last ``days`` (one at a time: one writer per store), each retried
    ``retries`` times; then build the features of what changed. Fails when a source still failed after
    its retries (the other sources' data are stored and built)."""
    results, failed = [], []
    for source in sources or ["eia"]:
        state = ingest_source.with_options(retries=retries, retry_delay_seconds=retry_delay_s)(
            home, source, regions or [], datasets or [], days, lookback_days, simulate, wait_s, return_state=True)
        if state.is_completed():
            results.append(state.result())
        else:
            failed.append(str(state.result(raise_on_failure=False)))
    if build:
        build_features(home, None, wait_s)
    if failed:
        raise IngestFailedError("; ".join(failed))
    return results


@flow(name="energy-features")
def features(home: str = "data", entities: list[str] | None = None, wait_s: float = 600.0) -> list[str]:
    """Build the entities (default: every one the stored data defines) whose data changed."""
    return build_features(home, entities, wait_s)


@flow(name="energy-train")
def train(home: str = "data", entities: list[str] | None = None, settings: dict[str, Any] | None = None,
          wait_s: float = 600.0) -> list[dict[str, Any]]:
    """Train each entity's forecaster (default: every built entity); ``settings`` are ``energy train``'s
    (``epochs``, ``seq_len``, ...)."""
    return [train_entity(home, entity, settings, wait_s) for entity in entities or api.built_entities(home)]


@flow(name="energy-forecast")
def forecast(home: str = "data", entities: list[str] | None = None) -> list[dict[str, Any]]:
    """Issue a forecast for each entity (default: every one with a trained model) and record it."""
    return [forecast_entity(home, entity) for entity in entities or api.trained_entities(home)]


@flow(name="energy-monitor")
def monitor(home: str = "data", objectives: list[dict[str, Any]] | None = None, webhooks: list[str] | None = None,
            quality_days: float = 7.0, drift_days: float = 7.0, drift_tolerance: float = 0.10,
            wait_s: float = 120.0) -> dict[str, Any]:
    """Check the home (see ``energy monitor``); the flow fails when any check fails."""
    report = monitor_home(home, objectives or [], webhooks or [], quality_days, drift_days, drift_tolerance, wait_s)
    if not report["ok"]:
        raise ChecksFailedError(f"{len(report['failures'])} check(s) failed: "
                                + "; ".join(f["summary"] for f in report["failures"]))
    return report


@flow(name="energy-daily")
def daily(home: str = "data", sources: list[str] | None = None, regions: list[str] | None = None,
          datasets: list[str] | None = None, days: float = 3.0, simulate: bool = False, quality: bool = True,
          train_when: str = "missing", train_settings: dict[str, Any] | None = None,
          objectives: list[dict[str, Any]] | None = None, webhooks: list[str] | None = None, retries: int = 2,
          retry_delay_s: float = 300.0, wait_s: float = 600.0) -> dict[str, Any]:
    """Ingest, check quality, build features, train (``train_when``: ``missing`` trains entities without a
    model, ``always`` retrains every built entity, ``never``), forecast every trained entity, and
    monitor. A source that fails does not stop the rest; the flow fails at the end when a source failed
    or a check did."""
    if train_when not in ("missing", "always", "never"):
        raise ValueError(f"train_when must be missing, always or never, not {train_when!r}")
    ingested = ingest(home, sources, regions, datasets, days, None, simulate, False, retries, retry_delay_s, wait_s,
                      return_state=True)
    if quality:
        check_quality(home)
    build_features(home, None, wait_s)
    built, trained = api.built_entities(home), set(api.trained_entities(home))
    to_train = [] if train_when == "never" else [e for e in built if train_when == "always" or e not in trained]
    training = [train_entity(home, entity, train_settings, wait_s) for entity in to_train]
    forecasts = [forecast_entity(home, entity) for entity in api.trained_entities(home)]
    report = monitor_home(home, objectives or [], webhooks or [], 7.0, 7.0, 0.10, wait_s)
    problems = [f"ingest: {ingested.message}"] if not ingested.is_completed() else []
    problems += [f"{f['kind']} {f['summary']}" for f in report.get("failures", [])]
    if problems:
        raise ChecksFailedError("; ".join(problems))
    return {"ingest": ingested.result(), "trained": training, "forecasts": forecasts, "monitor": report}
