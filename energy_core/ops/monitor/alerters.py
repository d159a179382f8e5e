"""The built-in alerters (the log, webhooks, Prometheus) and the table of every alerter by name.

``log`` is always on. ``webhook`` POSTs JSON to each URL of ``--webhook`` / ``[monitor] webhooks`` (and
to ``$ENERGY_MONITOR_WEBHOOK_SECRET``, a URL that is itself a credential), retrying what can recover.
``prometheus`` exposes the home's and the monitor's metrics on ``--serve-metrics PORT`` and writes them
to ``--metrics-file``. Plugins add theirs through ``register_alerters``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pluggy

from energy_core.errors import ConfigError, MissingExtraError
from energy_core.plugin.alerting import Alert, AlertContext, AlertDeliveryError, Alerter, AlertStatus, AlertUpdate
from energy_core.plugin.registry import ComponentTable

logger = logging.getLogger(__name__)

WEBHOOK_TOKEN = "ENERGY_MONITOR_WEBHOOK_TOKEN"
"""Sent as ``Authorization: Bearer <token>`` to every webhook, when set."""
WEBHOOK_SECRET = "ENERGY_MONITOR_WEBHOOK_SECRET"
"""A webhook URL that is a credential itself (Slack's, Teams'): kept out of files, arguments and output."""
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class LogAlerter(Alerter):
    """Logs every alert at WARNING (stderr for the command; the scheduler's log for a flow)."""

    name = "log"

    def send(self, update: AlertUpdate) -> None:
        for alert in update.alerts:
            logger.warning("alert %s [%s] %s", alert.status, alert.kind, alert.summary)


class WebhookAlerter(Alerter):
    """POSTs the alerts of each check as one JSON document: ``{"source": "energy", "home", "checked_at",
    "status" (firing when any alert fires), "alerts": [...], "open" (incidents open), "text" (one line per
    alert, for chat receivers)}``. Connection failures, timeouts, 408, 425, 429 and 5xx are tried again
    ``attempts`` times in all with exponential backoff (``Retry-After`` honoured up to
    ``retry_after_cap_s``); other answers are not. Redirects are not followed."""

    name = "webhook"
    attempts = 4
    backoff_s = 0.5
    timeout_s = 10.0
    retry_after_cap_s = 30.0

    def __init__(self, context: AlertContext, url: str) -> None:
        super().__init__(context)
        self.url = url
        parts = urlsplit(url)
        self.origin = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"

    @classmethod
    def create(cls, context: AlertContext) -> list[Alerter]:
        urls = list(dict.fromkeys(context.webhooks))
        secret = context.env.get(WEBHOOK_SECRET, "").strip()
        for url, where in [*((u, "--webhook") for u in urls), (secret, WEBHOOK_SECRET)]:
            if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
                shown = url if where != WEBHOOK_SECRET else "its value"
                raise ConfigError(f"{where}: {shown} is not an http:// or https:// URL with a host")
        return [cls(context, url) for url in [*urls, secret] if url]

    @property
    def channel(self) -> str:
        return f"webhook:{hashlib.sha256(self.url.encode()).hexdigest()[:12]}"

    def describe(self) -> str:
        return f"webhook {self.origin}"

    def send(self, update: AlertUpdate) -> None:
        if not update.alerts:
            return
        headers = {"User-Agent": "energy (+https://pypi.org/project/energy-core/)"}
        if token := self.context.env.get(WEBHOOK_TOKEN):
            headers["Authorization"] = f"Bearer {token}"
        body = payload(update)
        problem = ""
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False, trust_env=False) as client:
            for attempt in range(1, self.attempts + 1):
                wait = self.backoff_s * 2 ** (attempt - 1)
                try:
                    response = client.post(self.url, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}".replace(self.url, self.origin)
                else:
                    if response.is_success:
                        return
                    problem = f"HTTP {response.status_code}"
                    if response.status_code not in _RETRYABLE:
                        raise AlertDeliveryError(f"{self.describe()} refused the alerts ({problem}); check its URL "
                                                 "and what it accepts")
                    wait = max(wait, min(_retry_after(response), self.retry_after_cap_s))
                if attempt < self.attempts:
                    logger.info("%s: %s; trying again in %.1f s", self.describe(), problem, wait)
                    time.sleep(wait)
        raise AlertDeliveryError(f"{self.describe()} did not take the alerts after {self.attempts} attempts (last: "
                                 f"{problem})")


def payload(update: AlertUpdate) -> dict[str, Any]:
    """The JSON document a webhook receives."""
    firing = any(a.status is AlertStatus.FIRING for a in update.alerts)
    return {"source": "energy", "home": str(update.home), "checked_at": update.checked_at.isoformat(),
            "status": str(AlertStatus.FIRING if firing else AlertStatus.RESOLVED),
            "alerts": [a.to_json() for a in update.alerts], "open": len(update.open),
            "text": "\n".join(_line(a) for a in update.alerts)}


def _line(alert: Alert) -> str:
    return f"[{alert.status}] {alert.kind} {alert.subject}: {alert.summary}"


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "0")), 0.0)
    except ValueError:  # an HTTP date: the backoff will do
        return 0.0


class PrometheusAlerter(Alerter):
    """Exposes the home's metrics and the monitor's (see :mod:`energy_core.ops.monitor.metrics`) on
    ``metrics_port`` for as long as the command runs, and writes them to ``metrics_file`` after each
    check (atomically, for node_exporter's textfile collector)."""

    name = "prometheus"

    def __init__(self, context: AlertContext) -> None:
        super().__init__(context)
        try:
            from prometheus_client import CollectorRegistry, start_http_server

            from energy_core.ops.metrics import HomeCollector
            from energy_core.ops.monitor.metrics import MonitorCollector
        except ModuleNotFoundError as exc:
            raise MissingExtraError(f"Prometheus metrics need {exc.name}, which is not installed: pip install "
                                    "'energy-core[serve]'") from None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(HomeCollector(context.home))
        self.registry.register(MonitorCollector(context.home))
        self.url: str | None = None
        self._server = None
        if context.metrics_port is not None:
            try:
                self._server, _ = start_http_server(context.metrics_port, context.metrics_host, self.registry)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on {context.metrics_host}:{context.metrics_port}: "
                                  f"{exc.strerror or exc}; choose another port") from None
            self.url = f"http://{context.metrics_host}:{self._server.server_port}/metrics"

    @classmethod
    def create(cls, context: AlertContext) -> list[Alerter]:
        return [cls(context)] if context.metrics_port is not None or context.metrics_file else []

    def send(self, update: AlertUpdate) -> None:
        if self.context.metrics_file is None:
            return
        from prometheus_client import write_to_textfile

        try:
            self.context.metrics_file.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(self.context.metrics_file), self.registry)
        except OSError as exc:
            raise AlertDeliveryError(f"could not write metrics to {self.context.metrics_file}: "
                                     f"{exc.strerror or exc}") from None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


BUILT_IN: tuple[type[Alerter], ...] = (LogAlerter, WebhookAlerter, PrometheusAlerter)


def alerter_table(pm: pluggy.PluginManager) -> ComponentTable[Alerter]:
    """Every alerter by name: the built-ins and those the plugins register."""
    table: ComponentTable[Alerter] = ComponentTable("alerter")
    for alerter in BUILT_IN:
        table.add(alerter, "energy-core")
    for impl in pm.hook.register_alerters.get_hookimpls():
        for alerter in cast("list[type[Alerter]]", impl.function() or []):
            table.add(alerter, impl.plugin_name)
    return table


def create_alerters(pm: pluggy.PluginManager, context: AlertContext) -> list[Alerter]:
    """The alerters this context asks for, built-in and plugins', in table order."""
    table = alerter_table(pm)
    return [alerter for name in table.names() for alerter in table.get(name).create(context)]


def close_all(alerters: Sequence[Alerter]) -> None:
    for alerter in alerters:
        try:
            alerter.close()
        except Exception as exc:  # a plugin's close must not hide the outcome of the checks
            logger.warning("%s did not close cleanly: %s: %s", alerter.describe(), type(exc).__name__, exc)
