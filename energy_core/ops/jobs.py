"""The work a scheduler repeats (the Prefect flows of ``energy-prefect``, cron, a systemd timer): ingest a
source, check quality, build features, train, forecast, monitor.

Each job is safe to start every few minutes, and two at once on one home never write beside each
other: a job that writes a store waits for that store's lock and, after ``wait_s`` seconds, gives up
with :class:`~energy_core.ops.locks.StoreBusyError` having changed nothing (the next trigger does the
work). Ingest resumes the windows an earlier run left pending (failed, interrupted, crashed), so a
failed job is repaired by the next one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.ops.locks import held, when_free

if TYPE_CHECKING:
    from energy_core.features import BuildInfo
    from energy_core.ingest.report import RunReport
    from energy_core.ops.issued import Issue
    from energy_core.ops.monitor import MonitorReport, MonitorSettings

logger = logging.getLogger(__name__)

WAIT_S = 600.0
"""How long a job waits for the lock of what it writes before it is skipped."""


def ingest_source(home: Home | Path | str, source: str, *, regions: Sequence[str] = (), datasets: Sequence[str] = (),
           days: float = 3.0, lookback_days: float | None = None, simulate: bool = False,
           now: datetime | None = None, wait_s: float = WAIT_S) -> RunReport:
    """Fetch ``source`` for the ``days`` before the current hour: incrementally (stored windows are
    skipped unless they end within the source's revision look-back, or ``lookback_days``), and first the
    windows earlier runs left pending. Failed windows are reported, not raised (see ``report.ok``); they
    stay pending for the next run."""
    from energy_core.ingest.runner import RunConfig, run

    if days <= 0:
        raise ConfigError(f"days must be more than 0, not {days}")
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    config = RunConfig(sources=(source,), start=end - timedelta(days=days), end=end, home=Home.of(home).root,
                       regions=tuple(regions), datasets=tuple(datasets), simulate=simulate,
                       lookback=timedelta(days=lookback_days) if lookback_days is not None else None)
    return when_free(Home.of(home).processed_lock, f"ingest of {source}",
                     lambda: run(config, command=f"scheduled ingest {source}"), wait_s=wait_s)


def check_quality(home: Home | Path | str) -> int:
    """Run ``energy quality``'s checks (the installed plugins' too) over the store and save the flags
    (the monitor reads them); return how many spans were flagged. The screening's flags are kept."""
    from energy_core.ops.quality import check, save
    from energy_core.ops.screening import CHECK as SCREEN
    from energy_core.plugin.manager import get_plugin_manager
    from energy_core.plugin.registry import quality_checks

    flags = check(Home.of(home), checks=quality_checks(get_plugin_manager()))
    save(flags, Home.of(home), keep_checks=(SCREEN,))  # the screening's flags stay until it runs again
    return flags.height


def build_features(home: Home | Path | str, entities: Sequence[str] | None = None, *,
                   wait_s: float = WAIT_S) -> list[BuildInfo]:
    """Build ``entities`` (default: every entity the stored data defines) when the store changed since
    their last build; return the builds made (none when nothing changed)."""
    from energy_core.features import FeatureStore

    store = FeatureStore(home)
    names = list(entities) if entities is not None else None
    if not store.behind(names):
        return []
    return when_free(Home.of(home).features_lock, "feature build", lambda: store.build(names), wait_s=wait_s)


def built_entities(home: Home | Path | str) -> list[str]:
    """The entities whose features are built (and exported)."""
    from energy_core.ops.live import built_entities as built

    return built(Home.of(home))


def trained_entities(home: Home | Path | str) -> list[str]:
    """The entities with a trained model in their default model folder."""
    from energy_core.ops.issued import CHECKPOINT

    return sorted(path.parent.name for path in (Home.of(home).root / "models").glob(f"*/{CHECKPOINT}"))


def train_model(home: Home | Path | str, entity: str, settings: Mapping[str, Any] | None = None, *,
                wait_s: float = WAIT_S) -> dict[str, Any]:
    """Train ``entity``'s forecaster into its model folder (``TrainConfig`` fields in ``settings``), the
    run recorded like ``energy train``'s; return its last epoch's metrics. One training of an entity
    at a time (``<model folder>/.train.lock``)."""
    from energy_core.features import FeatureStore
    from energy_core.ml import RunLog, TrainConfig, train

    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"entity"}
    unknown = sorted(set(settings or {}) - fields)
    if unknown:
        raise ConfigError(f"training has no setting(s) {unknown}; it takes {', '.join(sorted(fields))}")
    config = TrainConfig(entity=entity, **dict(settings or {}))
    out = Home.of(home).model(entity)
    out.mkdir(parents=True, exist_ok=True)
    with held(out / ".train.lock", f"training of {entity}", wait_s=wait_s), \
            RunLog(home, command=f"scheduled training {entity}") as log:
        state = train(FeatureStore(home), config, out, progress=logger.info, log=log)
    return {**state.history[-1], "run_id": state.run_id} if state.history else {"run_id": state.run_id}


def issue_forecast(home: Home | Path | str, entity: str) -> Issue:
    """Forecast the hours after ``entity``'s latest built hour with its model, and record the issue in
    the issued-forecast log (where the monitor scores it once the actual values arrive)."""
    from energy_core.features import FeatureStore
    from energy_core.ml import forecast
    from energy_core.ops import issued

    checkpoint = Home.of(home).model(entity)
    model = issued.ModelIdentity.of(checkpoint)
    store = FeatureStore(home)
    build = store.latest(entity).build
    frame = forecast(store, checkpoint)
    issue = issued.Issue.of(frame, entity=entity, issuer=issued.Issuer.CLI, model=model, feature_build=build)
    issued.record(Home.of(home), issue)
    return issue


def monitor(home: Home | Path | str, settings: MonitorSettings, *, webhooks: Sequence[str] = (),
            env: Mapping[str, str] | None = None, wait_s: float = 120.0) -> MonitorReport:
    """``energy monitor`` once, its alerts sent through the log, ``webhooks`` and the installed alerter
    plugins (``env`` is where they read their settings: the process's by default)."""
    import os

    from energy_core.ops.monitor import check, create_alerters
    from energy_core.ops.monitor.alerters import close_all
    from energy_core.plugin.alerting import AlertContext
    from energy_core.plugin.manager import get_plugin_manager

    context = AlertContext(home=Home.of(home).root, webhooks=tuple(webhooks),
                           env=dict(os.environ if env is None else env))
    alerters = create_alerters(get_plugin_manager(), context)
    try:
        return check(Home.of(home), settings, alerters, wait_s=wait_s)
    finally:
        close_all(alerters)
