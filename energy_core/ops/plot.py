"""PNG plots: an entity's fused series, and held-out forecasts against actuals and baselines.

Gaps stay visible: unobserved hours are NaN, which breaks lines and stacks, and the hours where the
target is missing are shaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from energy_core.errors import ConfigError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_entity(frame: pl.DataFrame, entity: str, target: str, path: Path) -> Path:
    """Demand (and its forecast), generation by fuel stacked, and weather, one panel each."""
    if frame.height == 0:
        raise ConfigError(f"no hours of {entity} in the chosen range; `energy status` shows what is stored")
    plt = _pyplot()
    ts = frame["ts"].dt.replace_time_zone(None).to_numpy()
    fuels = sorted(c for c in frame.columns if c.startswith("eia.gen."))
    weather = [c for c in frame.columns if c.startswith("weather.temperature")][:3]
    panels = [p for p in ("demand", "fuels" if fuels else "", "weather" if weather else "") if p]
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 3.2 * len(panels)), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if panel == "demand":
            for name in [target, *(c for c in frame.columns if c.startswith(target + "_forecast"))]:
                if name in frame.columns:
                    ax.plot(ts, _values(frame, name), label=name, linewidth=1)
            _shade_gaps(ax, ts, _values(frame, target))
            ax.set_ylabel("MWh")
        elif panel == "fuels":
            _stack(ax, ts, frame, fuels)
            ax.set_ylabel("MWh")
        else:
            for name in weather:
                ax.plot(ts, _values(frame, name), label=name, linewidth=1)
            ax.set_ylabel("degC")
        ax.legend(loc="upper left", fontsize=7, ncol=4)
        ax.grid(alpha=0.3)
    first, last = frame["ts"].min(), frame["ts"].max()
    axes[0, 0].set_title(f"{entity}: {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (shaded: {target} missing)")
    return _save(fig, plt, path)


def plot_forecasts(hours: pl.DataFrame, entity: str, split: str, path: Path) -> Path:
    """Held-out forecasts, actual and the seasonal-naive baselines, hour by hour."""
    plt = _pyplot()
    ts = hours["ts"].dt.replace_time_zone(None).to_numpy()
    fig, ax = plt.subplots(figsize=(13, 4))
    for name in hours.columns[1:]:
        style = {"actual": {"color": "black", "linewidth": 1.4}, "model": {"color": "tab:red", "linewidth": 1.2}}
        ax.plot(ts, hours[name].to_numpy(), label=name, **style.get(name, {"linewidth": 0.8, "alpha": 0.7}))
    ax.set_title(f"{entity}: 24-hour-ahead forecasts on the {split} period")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _values(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _stack(ax, ts: np.ndarray, frame: pl.DataFrame, fuels: list[str]) -> None:
    """Stacked generation; an hour where any fuel is missing is left blank rather than drawn too low."""
    layers = np.stack([_values(frame, name) for name in fuels])
    positive = np.clip(layers, 0, None)
    incomplete = np.isnan(layers).any(axis=0)
    top = np.cumsum(np.nan_to_num(positive), axis=0)
    top[:, incomplete] = np.nan
    bottom = np.vstack([np.zeros((1, top.shape[1])), top[:-1]])
    for name, low, high in zip(fuels, bottom, top, strict=True):
        ax.fill_between(ts, low, high, label=name.removeprefix("eia.gen."), linewidth=0)


def _shade_gaps(ax, ts: np.ndarray, values: np.ndarray) -> None:
    missing = np.isnan(values)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        ax.axvspan(ts[start], ts[min(stop, len(ts) - 1)], color="tab:red", alpha=0.12, linewidth=0)


def _save(fig, plt, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
