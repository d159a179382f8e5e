"""PNG plots: an entity's fused series, and held-out forecasts against actuals and baselines.

Gaps stay visible: unobserved hours are NaN, which breaks lines and stacks, and the hours where the
target is missing are shaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

import numpy as np
import polars as pl

from energy_core.errors import ConfigError
from energy_core.plugin.contributions import PanelStyle, PlotPanel

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_entity(frame: pl.DataFrame, entity: str, target: str, path: Path,
                panels: Sequence[PlotPanel] = ()) -> Path:
    """The target and its forecasts, then one panel per entry of ``panels`` (the plugins', from
    ``registry.plot_panels``) that has columns in ``frame``."""
    if frame.height == 0:
        raise ConfigError(f"no hours of {entity} in the chosen range; `energy status` shows what is stored")
    plt = _pyplot()
    ts = frame["ts"].dt.replace_time_zone(None).to_numpy()
    drawn = [(panel, columns) for panel in panels if (columns := _columns(frame, panel))]
    fig, axes = plt.subplots(1 + len(drawn), 1, figsize=(13, 3.2 * (1 + len(drawn))), sharex=True, squeeze=False)
    top = axes[0, 0]
    for name in [target, *(c for c in frame.columns if c.startswith(target + "_forecast"))]:
        if name in frame.columns:
            top.plot(ts, _values(frame, name), label=name, linewidth=1)
    _shade_gaps(top, ts, _values(frame, target))
    top.set_ylabel(target)  # the target's unit is its source's: name the series rather than guess
    for ax, (panel, columns) in zip(axes[1:, 0], drawn, strict=True):
        labels = [c.removeprefix(panel.prefix) if panel.short_labels else c for c in columns]
        if panel.style is PanelStyle.STACKED:
            _stack(ax, ts, frame, columns, labels)
        else:
            for name, label in zip(columns, labels, strict=True):
                ax.plot(ts, _values(frame, name), label=label, linewidth=1)
        ax.set_ylabel(panel.unit)
    for ax in axes[:, 0]:
        ax.legend(loc="upper left", fontsize=7, ncol=4)
        ax.grid(alpha=0.3)
    first, last = cast(datetime, frame["ts"].min()), cast(datetime, frame["ts"].max())  # polars types min() widely
    top.set_title(f"{entity}: {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (shaded: {target} missing)")
    return _save(fig, plt, path)


def _columns(frame: pl.DataFrame, panel: PlotPanel) -> list[str]:
    columns = [c for c in frame.columns if c.startswith(panel.prefix)]
    if panel.style is PanelStyle.STACKED:
        columns.sort()
    return columns[:panel.max_columns]


def plot_forecasts(hours: pl.DataFrame, entity: str, split: str, path: Path) -> Path:
    """Held-out forecasts, actual and the seasonal-naive baselines, hour by hour, with the model's P10 to
    P90 band where the frame has it (:func:`energy_core.ml.evaluate.held_out_forecasts`)."""
    plt = _pyplot()
    ts = hours["ts"].dt.replace_time_zone(None).to_numpy()
    fig, ax = plt.subplots(figsize=(13, 4))
    if {"p10", "p90"} <= set(hours.columns):
        ax.fill_between(ts, hours["p10"].to_numpy(), hours["p90"].to_numpy(), color="tab:red", alpha=0.15,
                        linewidth=0, label="model P10-P90")
    lines = [name for name in hours.columns[1:] if not name.endswith(("p10", "p50", "p90"))]
    for name in lines:
        style = {"actual": {"color": "black", "linewidth": 1.4}, "model": {"color": "tab:red", "linewidth": 1.2}}
        ax.plot(ts, hours[name].to_numpy(), label=name, **style.get(name, {"linewidth": 0.8, "alpha": 0.7}))
    ax.set_title(f"{entity}: 24-hour-ahead forecasts on the {split} period")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _values(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _stack(ax: Axes, ts: np.ndarray, frame: pl.DataFrame, columns: list[str], labels: list[str]) -> None:
    """Stacked areas (generation by fuel, say); an hour where any column is missing is left blank rather
    than drawn too low."""
    layers = np.stack([_values(frame, name) for name in columns])
    positive = np.clip(layers, 0, None)
    incomplete = np.isnan(layers).any(axis=0)
    top = np.cumsum(np.nan_to_num(positive), axis=0)
    top[:, incomplete] = np.nan
    bottom = np.vstack([np.zeros((1, top.shape[1])), top[:-1]])
    for label, low, high in zip(labels, bottom, top, strict=True):
        ax.fill_between(ts, low, high, label=label, linewidth=0)


def _shade_gaps(ax: Axes, ts: np.ndarray, values: np.ndarray) -> None:
    missing = np.isnan(values)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        ax.axvspan(ts[start], ts[min(stop, len(ts) - 1)], color="tab:red", alpha=0.12, linewidth=0)


def _save(fig: Figure, plt: ModuleType, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
