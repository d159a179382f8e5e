"""Prometheus metrics of a home, computed from the catalog, the stores and the issued forecasts when
scraped: runs and windows by status, requests and retries per source, rows, freshness lag per dataset
and region, open problems, quality flags, feature builds and the accuracy of issued forecasts.

``energy serve`` exposes them at ``/metrics``; anything else that scrapes a home registers a
:class:`HomeCollector` in a registry of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from energy_core.home import Home
from energy_core.ops.overview import Overview, OverviewReader, ProblemKind


class HomeCollector(Collector):
    """Yields a home's metrics from the :class:`Overview` that ``overview`` returns on each scrape
    (the server passes a cached one; by default it is read afresh)."""

    def __init__(self, home: Home | Path, overview: Callable[[], Overview] | None = None) -> None:
        self.overview = overview or OverviewReader(home).read

    def collect(self) -> Iterator[Metric]:
        state = self.overview()
        now = datetime.now(UTC)
        yield _by("energy_runs", "Runs recorded in the catalog, by status.", "status", state.runs_by_status)
        yield _by("energy_windows", "Windows recorded in the catalog, by outcome.", "status", state.windows_by_status)
        rows = CounterMetricFamily("energy_rows_stored", "Rows the runs stored, over every run.")
        rows.add_metric([], state.rows_stored)
        yield rows
        for name, help_text in (("requests", "Requests sent"), ("retries", "Requests retried"),
                                ("throttled", "Answers that were 429 or 503"),
                                ("cache_hits", "Requests answered by the raw cache")):
            family = CounterMetricFamily(f"energy_source_{name}", f"{help_text}, per source, over every run report.",
                                         labels=["source"])
            for traffic in state.traffic:
                family.add_metric([traffic.source], getattr(traffic, name))
            yield family
        pending = GaugeMetricFamily("energy_pending_windows", "Windows planned but not stored yet.")
        pending.add_metric([], state.pending)
        yield pending
        labels = ["dataset", "region"]
        stored = GaugeMetricFamily("energy_observation_rows", "Stored rows per dataset and region.", labels=labels)
        missing = GaugeMetricFamily("energy_missing_hours", "Hours missing between the first and the last stored hour.",
                                    labels=labels)
        last = GaugeMetricFamily("energy_last_observation_timestamp_seconds",
                                 "Start of the last stored hour (Unix time).", labels=labels)
        lag = GaugeMetricFamily("energy_freshness_lag_seconds", "How long ago the last stored hour ended.",
                                labels=labels)
        for fresh in state.freshness:
            key = [fresh.dataset, fresh.region]
            stored.add_metric(key, fresh.rows)
            missing.add_metric(key, fresh.missing_hours)
            last.add_metric(key, fresh.last.timestamp())
            lag.add_metric(key, fresh.lag(now).total_seconds())
        yield from (stored, missing, last, lag)
        problems = {kind: 0 for kind in ProblemKind}
        for problem in state.problems:
            problems[problem.kind] += 1
        yield _by("energy_open_problems", "Open problems (failed or stopped runs and windows, pending windows, "
                  "quality flags), by kind.", "kind", {str(k): n for k, n in problems.items()})
        yield _by("energy_quality_flags", "Spans the last `energy quality` flagged, by check.", "check",
                  state.quality_flags)
        yield from _entity_metrics(state)


def _entity_metrics(state: Overview) -> Iterator[Metric]:
    build = GaugeMetricFamily("energy_features_build", "Number of the latest feature build.", labels=["entity"])
    built_last = GaugeMetricFamily("energy_features_last_hour_timestamp_seconds",
                                   "Last hour of the latest feature build (Unix time).", labels=["entity"])
    mae = GaugeMetricFamily("energy_forecast_mae", "Mean absolute error of the forecasts issued in the last 30 "
                            "days, over the hours whose actual value is known (target units).", labels=["entity"])
    mape = GaugeMetricFamily("energy_forecast_mape_percent", "Mean absolute percentage error of the same.",
                             labels=["entity"])
    scored = GaugeMetricFamily("energy_forecast_scored_hours", "Forecast hours scored for the two above.",
                               labels=["entity"])
    for entity in state.entities:
        build.add_metric([entity.entity], entity.build)
        built_last.add_metric([entity.entity], datetime.fromisoformat(entity.last_ts).timestamp())
        if entity.accuracy is not None:
            mae.add_metric([entity.entity], entity.accuracy.mae)
            mape.add_metric([entity.entity], entity.accuracy.mape)
            scored.add_metric([entity.entity], entity.accuracy.hours)
    yield from (build, built_last, mae, mape, scored)


def _by(name: str, help_text: str, label: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family
