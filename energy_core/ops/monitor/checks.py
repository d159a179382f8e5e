"""One check of a home: run every check, open and resolve incidents, tell the alerters.

One monitor checks a home at a time (``<home>/monitor/.lock``); another waits for it, and gives up
after a while with :class:`~energy_core.ops.locks.StoreBusyError`. The incidents' transitions are saved
before any alerter hears of them, and what each alerter took after, so a crash in between repeats a
delivery rather than losing one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energy_core.home import Home
from energy_core.ingest.redaction import redact
from energy_core.ops.locks import held
from energy_core.ops.monitor import incidents
from energy_core.ops.monitor.drift import check_drift
from energy_core.ops.monitor.objectives import check_objectives
from energy_core.ops.monitor.pipeline import check_pipeline
from energy_core.ops.monitor.quality import check_quality
from energy_core.ops.monitor.settings import MonitorSettings
from energy_core.plugin.alerting import Alert, AlertDeliveryError, Alerter, AlertUpdate, CheckResult

logger = logging.getLogger(__name__)

WAIT_S = 120.0
"""How long a check waits for another to finish before it is skipped."""


@dataclass(frozen=True)
class MonitorReport:
    checked_at: datetime
    checks: tuple[CheckResult, ...]
    fired: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    open: tuple[Alert, ...]
    """Every incident open after the check."""
    delivery: dict[str, str | None]
    """Each alerter destination -> None when it took what it was owed, else why not (offered again next time)."""

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked_at": self.checked_at.isoformat(),
                "failures": [c.to_json() for c in self.failures], "checks": [c.to_json() for c in self.checks],
                "fired": [a.to_json() for a in self.fired], "resolved": [a.to_json() for a in self.resolved],
                "open": [a.to_json() for a in self.open], "delivery": self.delivery}


def run_checks(home: Home | Path, settings: MonitorSettings, now: datetime) -> list[CheckResult]:
    """Every check's result: the objectives, the pipeline (runs, windows), quality flags, drift."""
    return [*check_objectives(home, settings.objectives, now), *check_pipeline(home),
            *check_quality(home, now, settings.quality_days),
            *check_drift(home, now, days=settings.drift_days, tolerance=settings.drift_tolerance,
                         min_hours=settings.drift_min_hours)]


def check(home: Home | Path, settings: MonitorSettings, alerters: Sequence[Alerter], *, now: datetime | None = None,
          wait_s: float = WAIT_S) -> MonitorReport:
    """Check ``home`` once and tell ``alerters`` what fired and resolved (and anything they were owed)."""
    paths = incidents.MonitorPaths.of(home)
    with held(paths.lock, "energy monitor", wait_s=wait_s):
        now = now or datetime.now(UTC)
        results = run_checks(home, settings, now)
        state = incidents.load(paths)
        fired, resolved = state.advance(results, now)
        incidents.append_history(paths, [*fired, *resolved])
        incidents.save(paths, state)
        delivery = _deliver(Home.of(home).root, state, alerters, now)
        state.forget(now)
        incidents.save(paths, state)
    return MonitorReport(now, tuple(results), tuple(fired), tuple(resolved),
                         tuple(i.alert() for i in state.open.values()), delivery)


def _deliver(home: Path, state: incidents.MonitorState, alerters: Sequence[Alerter],
             now: datetime) -> dict[str, str | None]:
    delivery: dict[str, str | None] = {}
    open_alerts = tuple(i.alert() for i in state.open.values())
    for alerter in alerters:
        channel = alerter.channel
        where = alerter.describe() if alerter.describe() not in delivery else f"{alerter.describe()} ({channel})"
        firing, resolutions = state.owed(channel)
        alerts = sorted([*(i.alert() for i in firing), *(r.alert for r in resolutions)],
                        key=lambda a: a.resolved_at or a.opened_at)
        update = AlertUpdate(home, now, tuple(alerts), open_alerts, tuple(state.checks))
        try:
            alerter.send(update)
        except AlertDeliveryError as exc:
            delivery[where] = redact(str(exc))
            logger.warning("%d alert(s) not delivered: %s; offered again at the next check", len(alerts),
                           delivery[where])
            continue
        except Exception as exc:  # a plugin's bug must not stop the other alerters or change the outcome
            delivery[where] = redact(f"{type(exc).__name__}: {exc}")
            logger.warning("alerter %s failed: %s", where, delivery[where])
            continue
        state.taken(channel, firing, resolutions)
        delivery[where] = None
    return delivery
