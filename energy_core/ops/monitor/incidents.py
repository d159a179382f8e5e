"""Incidents: an alert fires once when a check starts failing and resolves once when it passes again.

The state lives in ``<home>/monitor/state.json``, replaced atomically (written aside, synced, renamed)
by one ``energy monitor`` at a time (``<home>/monitor/.lock``): the incidents open, what each alerter
destination (its *channel*) has been told of them, resolutions still owed to a destination, the last
check's results and running totals. Every transition is also appended to ``<home>/monitor/alerts.jsonl``.

Delivery is at least once: a destination is told of a firing incident until it takes it (a receiver
that was down hears at the next check), and of its resolution if it was told of the firing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.plugin.alerting import Alert, AlertStatus, CheckKind, CheckResult

logger = logging.getLogger(__name__)

VERSION = 1
RESOLVED_RETENTION = timedelta(days=7)
"""A resolution a destination has not taken after this long is dropped (the destination is gone)."""


@dataclass(frozen=True)
class MonitorPaths:
    """Where the monitor keeps its state in a home."""

    root: Path

    @classmethod
    def of(cls, home: Home | Path) -> MonitorPaths:
        return cls(Home.of(home).root / "monitor")

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def history(self) -> Path:
        """Every alert that fired or resolved, one JSON object a line."""
        return self.root / "alerts.jsonl"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


@dataclass
class Incident:
    id: str
    kind: CheckKind
    subject: str
    opened_at: datetime
    summary: str
    value: float | None = None
    threshold: float | None = None
    told: list[str] = field(default_factory=list)
    """Channels that have taken its firing alert."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    def alert(self) -> Alert:
        return Alert(self.id, self.kind, self.subject, AlertStatus.FIRING, self.summary, self.opened_at,
                     value=self.value, threshold=self.threshold)


@dataclass
class Resolution:
    alert: Alert
    owed: list[str]
    """Channels told of the firing that have not taken the resolution yet."""


@dataclass
class MonitorState:
    checked_at: datetime | None = None
    checks: list[CheckResult] = field(default_factory=list)
    open: dict[str, Incident] = field(default_factory=dict)
    resolutions: list[Resolution] = field(default_factory=list)
    fired_total: int = 0
    resolved_total: int = 0

    def advance(self, results: Sequence[CheckResult], now: datetime) -> tuple[list[Alert], list[Alert]]:
        """Open an incident for each failing check that has none, resolve those whose check no longer
        fails; return the alerts that fired and resolved."""
        failing = {r.key: r for r in results if not r.ok}
        passing = {r.key: r for r in results if r.ok}
        fired, resolved = [], []
        for key, result in failing.items():
            incident = self.open.get(key)
            if incident is None:
                incident = self.open[key] = Incident(f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", result.kind,
                                                     result.subject, now, result.summary)
                fired.append(incident)
            incident.summary, incident.value, incident.threshold = result.summary, result.value, result.threshold
        for key in [k for k in self.open if k not in failing]:
            incident = self.open.pop(key)
            now_holds = passing[key].summary if key in passing else "no longer checked, or no longer failing"
            alert = Alert(incident.id, incident.kind, incident.subject, AlertStatus.RESOLVED,
                          f"{incident.summary} -> now: {now_holds}", incident.opened_at, now, incident.value,
                          incident.threshold)
            resolved.append(alert)
            if incident.told:
                self.resolutions.append(Resolution(alert, list(incident.told)))
        self.checked_at, self.checks = now, list(results)
        self.fired_total += len(fired)
        self.resolved_total += len(resolved)
        return [i.alert() for i in fired], resolved

    def owed(self, channel: str) -> tuple[list[Incident], list[Resolution]]:
        """What ``channel`` has not taken yet: firing incidents and resolutions."""
        return ([i for i in self.open.values() if channel not in i.told],
                [r for r in self.resolutions if channel in r.owed])

    def taken(self, channel: str, incidents: Sequence[Incident], resolutions: Sequence[Resolution]) -> None:
        for incident in incidents:
            incident.told.append(channel)
        for resolution in resolutions:
            resolution.owed.remove(channel)

    def forget(self, now: datetime) -> None:
        """Drop resolutions every destination took, and those no destination took for too long."""
        kept = []
        for resolution in self.resolutions:
            if not resolution.owed:
                continue
            if resolution.alert.resolved_at and now - resolution.alert.resolved_at > RESOLVED_RETENTION:
                logger.warning("dropping the resolution of %s: %s never took it", resolution.alert.subject,
                               ", ".join(resolution.owed))
                continue
            kept.append(resolution)
        self.resolutions = kept

    # -- persistence --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "checked_at": self.checked_at.isoformat() if self.checked_at else None,
                "checks": [c.to_json() for c in self.checks],
                "open": [{**i.alert().to_json(), "told": i.told} for i in self.open.values()],
                "resolutions": [{**r.alert.to_json(), "owed": r.owed} for r in self.resolutions],
                "fired_total": self.fired_total, "resolved_total": self.resolved_total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MonitorState:
        incidents = {}
        for item in data["open"]:
            alert = Alert.from_json(item)
            incidents[alert.key] = Incident(alert.incident, alert.kind, alert.subject, alert.opened_at, alert.summary,
                                            alert.value, alert.threshold, list(item["told"]))
        return cls(checked_at=datetime.fromisoformat(data["checked_at"]) if data["checked_at"] else None,
                   checks=[CheckResult.from_json(c) for c in data["checks"]], open=incidents,
                   resolutions=[Resolution(Alert.from_json(r), list(r["owed"])) for r in data["resolutions"]],
                   fired_total=data["fired_total"], resolved_total=data["resolved_total"])


def read(paths: MonitorPaths) -> MonitorState:
    """The saved state (a new one when there is none); ValueError when the file is unreadable."""
    try:
        data = json.loads(paths.state.read_text())
    except FileNotFoundError:
        return MonitorState()
    try:
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {VERSION}")
        return MonitorState.from_json(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


def load(paths: MonitorPaths) -> MonitorState:
    """The saved state, for the one monitor that holds the lock: an unreadable file is set aside with a
    warning (its open incidents fire again)."""
    try:
        return read(paths)
    except ValueError as exc:
        aside = paths.state.with_name(f"{paths.state.name}.corrupt-{uuid.uuid4().hex[:8]}")
        with contextlib.suppress(OSError):
            os.replace(paths.state, aside)
        logger.warning("the monitor's state %s was unreadable (%s) and was moved to %s; open incidents fire again",
                       paths.state, exc, aside)
        return MonitorState()


def save(paths: MonitorPaths, state: MonitorState) -> None:
    """Replace the saved state whole (a crash leaves the old one or the new one, never half of either)."""
    tmp = paths.root / f".tmp-{uuid.uuid4().hex}.json"
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as fh:
            json.dump(state.to_json(), fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, paths.state)
        _sync_dir(paths.root)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"could not save the monitor's state to {paths.state}: {exc.strerror or exc}; check free "
                           "disk space and permissions") from None


def append_history(paths: MonitorPaths, alerts: Sequence[Alert]) -> None:
    """Append each alert to the history, one line each, synced."""
    if not alerts:
        return
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        with open(paths.history, "a") as fh:
            fh.write("".join(json.dumps(a.to_json()) + "\n" for a in alerts))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StorageError(f"could not append to {paths.history}: {exc.strerror or exc}; check free disk space and "
                           "permissions") from None


def history(home: Home | Path, *, since: datetime | None = None) -> list[Alert]:
    """The alerts that fired and resolved (since ``since``), oldest first."""
    path = MonitorPaths.of(home).history
    if not path.exists():
        return []
    alerts = []
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except ValueError:  # a line cut short by a crash
            continue
        alert = Alert.from_json(item)
        if since is None or (alert.resolved_at or alert.opened_at) >= since:
            alerts.append(alert)
    return alerts


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
