"""The status page: plain HTML from ``templates/status.html``, tables and an inline SVG plot per entity,
rendered on the server (no front-end build; the page's only script shows times in the reader's zone
and reloads it every minute)."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from string import Template

from energy_core.ops.overview import Overview

PLOT_HOURS = 72
"""Hours of actual values drawn before each entity's latest forecast."""
_WIDTH, _HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM = 760, 260, 64, 16, 28, 30


@dataclass(frozen=True)
class EntityPlot:
    entity: str
    target: str
    actual: list[tuple[datetime, float]]
    forecast: list[tuple[datetime, float]]
    """The latest forecast (empty when there is none)."""
    earlier: list[tuple[datetime, float]]
    """The last forecast issued for each hour drawn with actual values."""
    band: list[tuple[datetime, float, float]]
    """The latest forecast's P10 and P90 per hour (empty when the model gives no quantiles)."""
    caption: str
    """What the forecast is (model, build, issue time, accuracy) or why there is none."""


def render(overview: Overview, plots: list[EntityPlot], home_name: str, now: datetime) -> str:
    """The page; lags are measured at ``now``."""
    template = Template(resources.files("energy_core.serve").joinpath("templates/status.html").read_text())
    failed = sum(n for status, n in overview.runs_by_status.items() if status not in ("ok", "running"))
    return template.substitute(
        home=_e(home_name), generated=_time(now),
        summary=_summary(overview, failed), problems=_problems(overview), freshness=_freshness(overview, now),
        forecasts="\n".join(_figure(plot) for plot in plots) or
        '<p class="empty">No entity is built yet: <code>energy run</code> builds them.</p>',
        runs=_runs(overview), traffic=_traffic(overview))


def _e(value: object) -> str:
    return html.escape(str(value))


def _time(moment: datetime | str | None) -> str:
    if moment is None:
        return "never"
    instant = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f'<time datetime="{instant.isoformat()}">{instant:%Y-%m-%d %H:%M} UTC</time>'


def _summary(overview: Overview, failed: int) -> str:
    cards = [("datasets and regions", len(overview.freshness)), ("runs", sum(overview.runs_by_status.values())),
             ("runs not ok", failed), ("open problems", len(overview.problems)), ("entities", len(overview.entities))]
    return "\n".join(f'<div class="card"><b>{n}</b><span>{_e(label)}</span></div>' for label, n in cards)


def _table(headers: list[str], rows: list[list[str]], css: str, empty: str,
           row_classes: list[str] | None = None) -> str:
    if not rows:
        return f'<p class="empty">{empty}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join(f'<tr class="{cls}">' + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                     for row, cls in zip(rows, row_classes or [""] * len(rows), strict=True))
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _problems(overview: Overview) -> str:
    return _table(["kind", "what", "detail", "run"],
                  [[_e(p.kind), _e(p.subject), _clipped(p.detail), _e(p.run_id or "")] for p in overview.problems],
                  "problems", "No open problems: the last runs succeeded, nothing is pending and "
                  "<code>energy quality</code> flagged nothing.", [f"problem {p.kind}" for p in overview.problems])


def _clipped(text: str, length: int = 240) -> str:
    """Long text (an error quoting a request) cut short, the whole of it on hover."""
    if len(text) <= length:
        return _e(text)
    return f'<span title="{_e(text)}">{_e(text[:length])}...</span>'


def _freshness(overview: Overview, now: datetime) -> str:
    rows, classes = [], []
    for fresh in overview.freshness:
        lag = fresh.lag(now)
        rows.append([_e(fresh.dataset), _e(fresh.region), _time(fresh.first), _time(fresh.last),
                     _e(_duration(lag)), _e(f"{fresh.missing_hours:,}"), _e(f"{fresh.rows:,}"),
                     _e(fresh.last_outcome or "")])
        classes.append("failed" if fresh.last_outcome not in (None, "ok", "empty") else "")
    return _table(["dataset", "region", "first hour", "last hour", "lag", "missing hours", "rows", "last window"],
                  rows, "freshness", "Nothing is stored yet: <code>energy run</code> fetches data.", classes)


def _duration(lag: timedelta) -> str:
    hours = lag.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"


def _runs(overview: Overview) -> str:
    rows = [[_e(run["run_id"]), _time(run["started_at"]), _e(run["status"]), _e(f"{run['rows_stored'] or 0:,}"),
             f"<code>{_e(run['command'])}</code>"] for run in overview.runs]
    return _table(["run", "started", "status", "rows stored", "command"], rows, "runs", "No run recorded yet.",
                  [f"run {run['status']}" for run in overview.runs])


def _traffic(overview: Overview) -> str:
    rows = [[_e(t.source), _e(f"{t.requests:,}"), _e(f"{t.retries:,}"), _e(f"{t.throttled:,}"),
             _e(f"{t.cache_hits:,}")] for t in overview.traffic]
    return _table(["source", "requests", "retries", "throttled", "cache hits"], rows, "traffic", "No requests yet.")


def _figure(plot: EntityPlot) -> str:
    return (f'<figure class="forecast" id="forecast-{_e(plot.entity)}"><figcaption><b>{_e(plot.entity)}</b>: '
            f"{_e(plot.target)}. {_e(plot.caption)}</figcaption>\n{_svg(plot)}\n</figure>")


def _svg(plot: EntityPlot) -> str:
    points = plot.actual + plot.earlier + plot.forecast + [(t, v) for t, low, high in plot.band for v in (low, high)]
    if not points:
        return '<p class="empty">No hours to plot.</p>'
    t0, t1 = min(t for t, _ in points).timestamp(), max(t for t, _ in points).timestamp()
    v0, v1 = min(v for _, v in points), max(v for _, v in points)
    pad = (v1 - v0) * 0.05 or abs(v0) * 0.05 or 1.0
    v0, v1 = v0 - pad, v1 + pad
    width, height = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def x(moment: datetime) -> float:
        return _LEFT + (moment.timestamp() - t0) / ((t1 - t0) or 1.0) * width

    def y(value: float) -> float:
        return _TOP + (v1 - value) / (v1 - v0) * height

    parts = [f'<svg class="plot" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" role="img" '
             f'aria-label="{_e(plot.target)} of {_e(plot.entity)}: actual values and forecasts">']
    for k in range(5):  # value grid
        value = v0 + (v1 - v0) * k / 4
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + width}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
                     f'<text class="tick" x="{_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
    day = min(t for t, _ in points).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day.timestamp() <= t1:  # UTC midnights
        parts.append(f'<line class="grid day" x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{_TOP}" y2="{_TOP + height}"/>'
                     f'<text class="tick" x="{x(day):.1f}" y="{_HEIGHT - 10}" text-anchor="middle">{day:%b %d}</text>')
        day += timedelta(days=1)
    if plot.band:  # the P10-P90 range: along P90, back along P10
        outline = [f"{x(t):.1f},{y(high):.1f}" for t, _, high in plot.band]
        outline += [f"{x(t):.1f},{y(low):.1f}" for t, low, _ in reversed(plot.band)]
        parts.append(f'<path class="band" d="M{" L".join(outline)} Z"/>')
    for css, series in (("earlier", plot.earlier), ("actual", plot.actual), ("forecast", plot.forecast)):
        if series:
            parts.append(f'<path class="{css}" d="{_path(series, x, y)}"/>')
    parts += [f'<circle class="forecast" cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5"><title>{t:%Y-%m-%d %H}:00 UTC: '
              f'{v:,.1f}</title></circle>' for t, v in plot.forecast]
    legend = [("actual", "actual"), ("forecast", "latest forecast"), ("earlier", "earlier forecasts")]
    legend += [("band", "P10 to P90")] if plot.band else []
    for k, (css, label) in enumerate(legend):
        lx = _LEFT + 8 + k * 150
        parts.append(f'<line class="{css}" x1="{lx}" x2="{lx + 22}" y1="14" y2="14"/>'
                     f'<text class="legend" x="{lx + 28}" y="18">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _path(series: list[tuple[datetime, float]], x: Callable[[datetime], float], y: Callable[[float], float]) -> str:
    """Line segments through consecutive hours; a missing hour breaks the line (gaps stay gaps)."""
    commands, previous = [], None
    for moment, value in series:
        jump = previous is None or moment - previous > timedelta(hours=1)
        commands.append(f"{'M' if jump else 'L'}{x(moment):.1f},{y(value):.1f}")
        previous = moment
    return " ".join(commands)
