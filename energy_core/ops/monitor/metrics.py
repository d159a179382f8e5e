"""The monitor's Prometheus metrics, read from its saved state on every scrape: the last check's
results, the open incidents and how many alerts fired and resolved.

``energy monitor --serve-metrics`` and ``--metrics-file`` expose them beside the home's own
(:class:`energy_core.ops.metrics.HomeCollector`: runs, windows, requests, retries, rows, freshness lag per
dataset and region, forecast error); a server of a home adds them with
``registry.register(MonitorCollector(home))``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from energy_core.home import Home
from energy_core.ops.monitor.incidents import MonitorPaths, read
from energy_core.plugin.alerting import CheckKind

logger = logging.getLogger(__name__)
_LABELS = ["kind", "subject"]


class MonitorCollector(Collector):
    """Yields the monitor's metrics of one home (nothing before its first check)."""

    def __init__(self, home: Home | Path) -> None:
        self.paths = MonitorPaths.of(home)

    def collect(self) -> Iterator[Metric]:
        try:
            state = read(self.paths)
        except (OSError, ValueError) as exc:  # a scrape never fails for it; the next check sets it aside
            logger.warning("monitor metrics left out: %s is unreadable (%s)", self.paths.state, exc)
            return
        if state.checked_at is None:
            return
        last = GaugeMetricFamily("energy_monitor_last_check_timestamp_seconds", "When `energy monitor` last checked "
                                 "this home (Unix time).")
        last.add_metric([], state.checked_at.timestamp())
        ok = GaugeMetricFamily("energy_monitor_check_ok", "1 when the check passed at the last `energy monitor`, "
                               "0 when it failed.", labels=_LABELS)
        value = GaugeMetricFamily("energy_monitor_check_value", "What the check measured: lag or gap hours, MAPE "
                                  "percent, windows or flagged spans.", labels=_LABELS)
        threshold = GaugeMetricFamily("energy_monitor_check_threshold", "The limit the check's value is held to, in "
                                      "its units.", labels=_LABELS)
        for check in state.checks:
            labels = [str(check.kind), check.subject]
            ok.add_metric(labels, 1.0 if check.ok else 0.0)
            if check.value is not None:
                value.add_metric(labels, check.value)
            if check.threshold is not None:
                threshold.add_metric(labels, check.threshold)
        incidents = GaugeMetricFamily("energy_monitor_open_incidents", "Incidents open (alerts fired, not yet "
                                      "resolved), by kind.", labels=["kind"])
        counts = dict.fromkeys(CheckKind, 0)
        opened = GaugeMetricFamily("energy_monitor_incident_opened_timestamp_seconds", "When each open incident "
                                   "opened (Unix time).", labels=_LABELS)
        for incident in state.open.values():
            counts[incident.kind] += 1
            opened.add_metric([str(incident.kind), incident.subject], incident.opened_at.timestamp())
        for kind, count in counts.items():
            incidents.add_metric([str(kind)], count)
        fired = CounterMetricFamily("energy_monitor_alerts_fired", "Incidents opened, over every check of this home.")
        fired.add_metric([], state.fired_total)
        resolved = CounterMetricFamily("energy_monitor_alerts_resolved", "Incidents resolved, over every check of "
                                       "this home.")
        resolved.add_metric([], state.resolved_total)
        yield from (last, ok, value, threshold, incidents, opened, fired, resolved)
