"""The alerter contract: what ``energy monitor`` tells every alerter, and the :class:`Alerter` base.

``energy monitor`` runs its checks (the objectives of ``energy.toml``, failed or quota-stopped runs,
recent quality flags, forecast accuracy drift), keeps an *incident* open for each check that fails, and
tells every alerter of each incident twice: once when it fires and once when it resolves. An alerter
that could not deliver raises :class:`AlertDeliveryError`; what it was owed is offered to it again at
the next check, so an alert is never lost to a receiver that was down for a while.
Everything here is a plain value, so a plugin needs no library to read it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from energy_core.errors import EnergyError


class AlertDeliveryError(EnergyError):
    """An alerter could not deliver; its alerts are offered to it again at the next check."""

    transient = True


class CheckKind(enum.StrEnum):
    """What a check looks at."""

    FRESHNESS = "freshness"
    """An objective: the last stored value of a dataset and region must be recent enough."""
    COMPLETENESS = "completeness"
    """An objective: no gap between stored hours may be longer than allowed."""
    RUN = "run"
    """The newest run must not have failed, crashed or been interrupted."""
    WINDOW = "window"
    """The newest window that fetched a dataset and region must not have failed."""
    QUOTA = "quota"
    """Windows not attempted because a quota was spent or a key refused."""
    QUALITY = "quality"
    """Quality flags (``energy quality``) on recent hours."""
    DRIFT = "drift"
    """Issued forecasts must stay as accurate as the better seasonal-naive baseline."""


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class CheckResult:
    """One check of one subject, passed or failed."""

    kind: CheckKind
    subject: str
    """What was checked, e.g. ``"eia.region PACW demand"`` or an entity name."""
    ok: bool
    summary: str
    """One line a person reads: what was found, and what was expected."""
    value: float | None = None
    """The measured number, when there is one (lag hours, gap hours, MAPE percent)."""
    threshold: float | None = None
    """The limit ``value`` was held to, in its units."""

    @property
    def key(self) -> str:
        """Names the incident this check opens while it fails."""
        return f"{self.kind}:{self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "subject": self.subject, "ok": self.ok, "summary": self.summary,
                "value": self.value, "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(CheckKind(data["kind"]), data["subject"], data["ok"], data["summary"], data["value"],
                   data["threshold"])


@dataclass(frozen=True)
class Alert:
    """An incident as an alerter hears of it: firing, or resolved."""

    incident: str
    """The incident's id, the same in its firing and its resolved alert (receivers deduplicate on it)."""
    kind: CheckKind
    subject: str
    status: AlertStatus
    summary: str
    """The failure (for a resolved alert, the last failure seen, then what holds now)."""
    opened_at: datetime
    resolved_at: datetime | None = None
    value: float | None = None
    threshold: float | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"incident": self.incident, "kind": str(self.kind), "subject": self.subject,
                "status": str(self.status), "summary": self.summary, "opened_at": self.opened_at.isoformat(),
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "value": self.value, "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """The alert of :meth:`to_json` (a webhook receiver's ``alerts`` items)."""
        return cls(data["incident"], CheckKind(data["kind"]), data["subject"], AlertStatus(data["status"]),
                   data["summary"], datetime.fromisoformat(data["opened_at"]),
                   datetime.fromisoformat(data["resolved_at"]) if data["resolved_at"] else None,
                   data["value"], data["threshold"])


@dataclass(frozen=True)
class AlertUpdate:
    """What one check tells one alerter."""

    home: Path
    checked_at: datetime
    alerts: tuple[Alert, ...]
    """What this alerter has not been told yet: incidents that fired (still open) and incidents that
    resolved, oldest first. Often empty: an alerter that shows state (Prometheus) reads the rest."""
    open: tuple[Alert, ...]
    """Every incident open after this check."""
    checks: tuple[CheckResult, ...]
    """Every check this time, passed or failed."""


@dataclass(frozen=True)
class AlertContext:
    """What ``energy monitor`` was asked, for the alerters to configure themselves from."""

    home: Path
    webhooks: tuple[str, ...] = ()
    """URLs to POST alerts to (``--webhook``, ``[monitor] webhooks``)."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port while the command runs (``--serve-metrics``)."""
    metrics_host: str = "127.0.0.1"
    metrics_file: Path | None = None
    """Write Prometheus metrics to this file after every check (node_exporter's textfile collector)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment, where an alerter reads its own settings (declare them with ``register_settings``)."""


class Alerter(ABC):
    """Sends alerts somewhere. ``energy monitor`` makes its instances with :meth:`create` at every check;
    an alerter that has nowhere to send returns none.

    An alerter that raises anything but :class:`AlertDeliveryError` is warned about and treated as
    not delivered; it never changes the outcome of the checks.
    """

    name: ClassVar[str]
    """Names the alerter, e.g. ``"webhook"``."""

    def __init__(self, context: AlertContext) -> None:
        self.context = context

    @classmethod
    def create(cls, context: AlertContext) -> list[Alerter]:
        """The instances this context asks for (one per destination; none when it asks for none)."""
        return [cls(context)]

    @property
    def channel(self) -> str:
        """A stable id of this destination, kept with each incident to remember what it was told.
        Never a credential (a webhook's is a digest of its URL)."""
        return self.name

    def describe(self) -> str:
        """How messages name this destination (never a credential)."""
        return self.channel

    @abstractmethod
    def send(self, update: AlertUpdate) -> None:
        """Deliver ``update.alerts``; raise :class:`AlertDeliveryError` when they did not arrive."""

    def close(self) -> None:  # noqa: B027 (most alerters hold nothing)
        """Release what the alerter holds (a server, a connection) when the command ends."""
