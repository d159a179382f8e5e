"""The deployments that run energy every day: ingest every hour, the daily flow at a set local hour,
retraining once a week, and the monitor every few minutes.

``python -m energy_prefect serve`` serves them from one process (``prefect.serve``), which needs a
Prefect API: ``prefect server start`` on this machine, or Prefect Cloud (``PREFECT_API_URL``,
``PREFECT_API_KEY``).
Each deployment runs one flow at a time (``concurrency_limit=1``); flows of different deployments that
meet on the home's stores wait for each other's locks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.schedules import Cron, Interval

from energy_core.api import ConfigError
from energy_prefect import flows

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    """What runs when, and over what."""

    home: str = "data"
    sources: tuple[str, ...] = ("eia",)
    regions: tuple[str, ...] = ()
    simulate: bool = False
    timezone: str = "UTC"
    """The zone of ``daily_at`` and ``train_at`` (an IANA name, e.g. ``America/Los_Angeles``)."""
    ingest_every: timedelta = timedelta(hours=1)
    ingest_days: float = 2.0
    """Each hourly ingest covers this many days back (stored windows are skipped)."""
    daily_at: str = "06:00"
    """The daily flow's local time: ingest, quality, features, training of new entities, forecasts, monitor."""
    train_on: str = "sun"
    """The day of the weekly retraining (``never`` for none)."""
    train_at: str = "03:00"
    train_settings: dict[str, Any] = field(default_factory=dict)
    monitor_every: timedelta = timedelta(minutes=10)
    objectives: tuple[dict[str, Any], ...] = ()
    webhooks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"timezone {self.timezone!r} is not an IANA time zone, e.g. America/Los_Angeles") \
                from None
        for name in ("daily_at", "train_at"):
            if not _TIME.fullmatch(getattr(self, name)):
                raise ConfigError(f"{name} must be a local time HH:MM, e.g. 06:00, not {getattr(self, name)!r}")
        if self.train_on not in (*WEEKDAYS, "never"):
            raise ConfigError(f"train_on must be one of {', '.join(WEEKDAYS)} or never, not {self.train_on!r}")
        if self.ingest_every < timedelta(minutes=1) or self.monitor_every < timedelta(minutes=1):
            raise ConfigError("ingest_every and monitor_every must be at least a minute")


def _cron(at: str, day: str = "*") -> str:
    hour, minute = at.split(":")
    return f"{int(minute)} {int(hour)} * * {day}"


def deployments(schedule: Schedule) -> list[RunnerDeployment]:
    """The deployments of ``schedule``: ``energy-ingest-hourly``, ``energy-daily``, ``energy-train-weekly``
    (unless ``train_on`` is ``never``) and ``energy-monitor``."""
    common = {"home": schedule.home}
    ingest = {**common, "sources": list(schedule.sources), "regions": list(schedule.regions),
              "simulate": schedule.simulate}
    monitor = {**common, "objectives": list(schedule.objectives), "webhooks": list(schedule.webhooks)}
    made = [
        flows.ingest.to_deployment(
            name="energy-ingest-hourly", schedules=[Interval(schedule.ingest_every, timezone=schedule.timezone)],
            parameters={**ingest, "days": schedule.ingest_days}, concurrency_limit=1,
            description="Fetch every source for the last days (incrementally), then build what changed."),
        flows.daily.to_deployment(
            name="energy-daily", schedules=[Cron(_cron(schedule.daily_at), timezone=schedule.timezone)],
            parameters={**ingest, **monitor, "train_settings": schedule.train_settings}, concurrency_limit=1,
            description="Ingest, quality, features, training of new entities, forecasts and the monitor."),
        flows.monitor.to_deployment(
            name="energy-monitor", schedules=[Interval(schedule.monitor_every, timezone=schedule.timezone)],
            parameters=monitor, concurrency_limit=1,
            description="Check freshness, completeness, runs, quality and drift; alert once per incident."),
    ]
    if schedule.train_on != "never":
        made.append(flows.train.to_deployment(
            name="energy-train-weekly", concurrency_limit=1,
            schedules=[Cron(_cron(schedule.train_at, schedule.train_on), timezone=schedule.timezone)],
            parameters={**common, "settings": schedule.train_settings},
            description="Retrain every built entity's forecaster."))
    return [cast("RunnerDeployment", deployment) for deployment in made]  # made synchronously here
