"""Training windows and the live context, as MLX arrays.

An entity is normalized once into one contiguous float32 array (masked hours set to 0). Windows are
``sliding_window_view``s of that array, so no window is copied until its batch is handed to MLX.
A window belongs to the split its forecast targets fall in; a training window lies wholly before
validation starts, so nothing from the validation or test period reaches training.

Known-future inputs (:func:`known_future`) are the features a forecaster knows for the hours it
forecasts when it forecasts them: the calendar, and forecasts published before the issue time
(features with the suffix ``@forecast``, such as ``weather.temperature_2m@forecast``: each stored
value was retrieved before its hour). Each forecast hour carries them with their change since the
same hour a day before and their mask (:func:`ahead_inputs`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from energy_core.blas import load_openblas
from energy_core.errors import ConfigError
from energy_core.features.calendar import CALENDAR_FEATURES

load_openblas()  # before mlx.core binds its BLAS, on its first import (see energy_core.blas)
import mlx.core as mx  # noqa: E402

if TYPE_CHECKING:
    from energy_core.features.records import BuildInfo
    from energy_core.features.vintages import Vintages

SPLITS = ("train", "val", "test", "all")
FORECAST_SUFFIX = "@forecast"
"""Names a feature holding a forecast known before its hour (a known-future input)."""
DAY = 24


@dataclass(frozen=True)
class Batch:
    x: mx.array
    """(batch, seq_len, features) normalized inputs, 0 where unobserved."""
    mask: mx.array
    """(batch, seq_len, features) uint8: 1 where observed."""
    target: mx.array
    """(batch, horizon) the normalized target series over the hours after each window."""
    target_mask: mx.array
    start: np.ndarray
    """(batch,) datetime64[us] UTC start of each window."""
    future: mx.array | None = None
    """(batch, horizon, 3 x known-future features): :func:`ahead_inputs` of the hours forecast, or None."""


@dataclass(frozen=True)
class Context:
    x: mx.array
    """(1, lookback, features) normalized, like a training window."""
    mask: mx.array
    timestamps: np.ndarray
    """(lookback,) datetime64[us], UTC hour starts."""
    features: tuple[str, ...]


def _select(info: BuildInfo, features: list[str] | None) -> list[int]:
    if features is None:
        return list(range(len(info.features)))
    unknown = [f for f in features if f not in info.features]
    if unknown:
        raise ConfigError(f"unknown feature(s) {unknown} for {info.entity}; it has {info.features}")
    return [info.features.index(f) for f in features]


def known_future(features: Sequence[str]) -> list[str]:
    """The known-future inputs among ``features``: the calendar and every ``@forecast`` feature."""
    return [f for f in features if f in CALENDAR_FEATURES or f.endswith(FORECAST_SUFFIX)]


def ahead_inputs(now: np.ndarray, observed: np.ndarray, before: np.ndarray, observed_before: np.ndarray) -> np.ndarray:
    """(..., 3 x F) float32 per hour: the normalized known-future values (0 where unobserved), their change
    since the same hour a day before (0 unless both are observed) and their mask."""
    change = (now - before) * (observed * observed_before)
    return np.concatenate([now * observed, change, observed], axis=-1).astype(np.float32)


def future_inputs(values: np.ndarray, mask: np.ndarray, stats: Mapping[str, Sequence[float]],
                  names: Sequence[str]) -> np.ndarray:
    """(n, 3 x F) :func:`ahead_inputs` of every row of a grid whose (n, F) ``values`` and ``mask`` are the
    known-future features ``names`` (normalized with ``stats``); the first day has no day before."""
    mean = np.array([stats[n][0] for n in names], dtype=np.float32)
    std = np.array([stats[n][1] for n in names], dtype=np.float32)
    observed = mask.astype(np.float32)
    now = np.where(observed > 0, (values - mean) / std, 0.0).astype(np.float32)
    before, observed_before = np.zeros_like(now), np.zeros_like(observed)
    before[DAY:], observed_before[DAY:] = now[:-DAY], observed[:-DAY]
    return ahead_inputs(now, observed, before, observed_before)


def normalized(info: BuildInfo, values: np.ndarray, mask: np.ndarray, columns: list[int]) -> np.ndarray:
    """One contiguous (n, F) float32 array: (value - mean) / std from the stored training statistics."""
    names = [info.features[j] for j in columns]
    mean = np.array([info.stats[n][0] for n in names], dtype=np.float32)
    std = np.array([info.stats[n][1] for n in names], dtype=np.float32)
    out = (values[:, columns] - mean) / std
    out[mask[:, columns] == 0] = 0.0
    return np.ascontiguousarray(out, dtype=np.float32)


def window_starts(info: BuildInfo, ts: np.ndarray, split: str, seq_len: int, horizon: int, stride: int) -> np.ndarray:
    """Start rows of the windows whose forecast targets fall inside ``split``.

    Windows step back from the split's start in ``stride``s (training's and "all"'s from the validation
    start), so every split issues its forecasts at the same hours of the day. The model reads its
    outputs by position (output k is k hours after the window), so windows stepped from the first
    stored hour (05:00 UTC for a span starting then) taught it the day's shape 5 hours off the one
    it was scored on, at 00:00 UTC: worse than "same hour yesterday" (issue 21).
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, not {split!r}")
    val = int(np.searchsorted(ts, np.datetime64(info.splits["val_start"][:19], "us")))
    test = int(np.searchsorted(ts, np.datetime64(info.splits["test_start"][:19], "us")))
    lo, hi = {"train": (0, val), "val": (val, test), "test": (test, len(ts)), "all": (0, len(ts))}[split]
    anchor = lo if split in ("val", "test") else val  # the first forecast's hour, or one a multiple of stride off
    first = max(0, lo - seq_len)  # inputs may come from before the split; targets may not
    first += (anchor - seq_len - first) % stride
    last = hi - seq_len - horizon  # the last window's targets end at hi
    return np.arange(first, last + 1, stride) if last >= first else np.arange(0)


def training_sequences(info: BuildInfo, ts: np.ndarray, values: np.ndarray, mask: np.ndarray, *, seq_len: int,
                       stride: int, features: list[str] | None, split: str, batch_size: int, horizon: int,
                       target: str | None, shuffle_seed: int | None = None,
                       future: Sequence[str] = (), vintages: Vintages | None = None) -> Iterator[Batch]:
    """Batches of the windows of ``split`` over one build's arrays (see :meth:`FeatureStore.arrays`), with
    the known-future inputs ``future`` (feature names) of each window's forecast hours. With ``vintages``
    each window's inputs are the values known at its issue time (point in time; its targets stay the latest)."""
    target = target or info.target
    if target not in info.features:
        raise ConfigError(f"target {target!r} is not a feature of {info.entity}; it has {info.features}")
    columns = _select(info, features)
    data = normalized(info, values, mask, columns)
    observed = np.ascontiguousarray(mask[:, columns])
    goal = normalized(info, values, mask, [info.features.index(target)])[:, 0]
    goal_mask = np.ascontiguousarray(mask[:, info.features.index(target)])
    starts = window_starts(info, ts, split, seq_len, horizon, stride)
    if len(starts) == 0:
        return
    x = sliding_window_view(data, seq_len, axis=0).transpose(0, 2, 1)  # (n - L + 1, L, F), a view
    m = sliding_window_view(observed, seq_len, axis=0).transpose(0, 2, 1)
    y = sliding_window_view(goal[seq_len:], horizon)  # targets: the `horizon` hours after each window
    ym = sliding_window_view(goal_mask[seq_len:], horizon)
    ahead = None
    if future:
        picked = _select(info, list(future))
        rows = future_inputs(values[:, picked], mask[:, picked], info.stats, future)
        ahead = sliding_window_view(rows[seq_len:], horizon, axis=0).transpose(0, 2, 1)  # (n - L - H + 1, H, 3F)
    if shuffle_seed is not None:  # random windows per batch: each batch then copies its own windows
        starts = np.random.default_rng(shuffle_seed).permutation(starts)
    for i in range(0, len(starts), batch_size):
        rows = starts[i: i + batch_size]
        pick = slice(rows[0], rows[-1] + 1, stride) if shuffle_seed is None else rows  # ordered: a strided view
        inputs, seen = x[pick], m[pick]
        if vintages is not None and len(vintages):
            windows = [known_window(info, ts, values, mask, vintages, s, seq_len, columns) for s in rows]
            inputs, seen = np.stack([w for w, _ in windows]), np.stack([o for _, o in windows])
        yield Batch(mx.array(inputs), mx.array(seen), mx.array(y[pick]), mx.array(ym[pick]), ts[rows],
                    None if ahead is None else mx.array(ahead[pick]))


def known_window(info: BuildInfo, ts: np.ndarray, values: np.ndarray, mask: np.ndarray, vintages: Vintages,
                 start: int, seq_len: int, columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The window of ``seq_len`` hours from row ``start`` as it was known when its forecast was issued (at the
    hour after it): normalized inputs (L, F) and their mask."""
    raw, observed = values[start: start + seq_len].copy(), mask[start: start + seq_len].copy()
    vintages.patch(raw, observed, start, ts[start + seq_len])
    return normalized(info, raw, observed, columns), np.ascontiguousarray(observed[:, columns])


def real_time_context(info: BuildInfo, ts: np.ndarray, values: np.ndarray, mask: np.ndarray, *,
                      features: list[str] | None) -> Context:
    """The latest hours of a build (see :meth:`FeatureStore.latest_hours`), normalized like a training window."""
    columns = _select(info, features)
    data = normalized(info, values, mask, columns)
    return Context(mx.array(data[None]), mx.array(np.ascontiguousarray(mask[None][:, :, columns])), ts,
                   tuple(info.features[j] for j in columns))


def ahead_of(ts: np.ndarray, values: np.ndarray, mask: np.ndarray, features: Sequence[str], first: np.datetime64,
             horizon: int, *, names: Sequence[str], stats: Mapping[str, Sequence[float]], timezone: str,
             states: Sequence[str] = ()) -> np.ndarray:
    """(1, horizon, 3 x F) :func:`ahead_inputs` of the ``horizon`` hours from ``first``, for a live
    forecast: each hour's known-future features ``names`` from the grid (``ts``, ``values``, ``mask`` over
    ``features``) where it holds the hour and the feature, else its calendar (in ``timezone``, with the
    holidays of ``states``) and no forecast."""
    import polars as pl

    from energy_core.features.calendar import calendar_features

    hours = (first + np.arange(-DAY, horizon).astype("timedelta64[h]")).astype("datetime64[us]")
    grid = np.full((len(hours), len(names)), np.nan, dtype=np.float32)
    observed = np.zeros((len(hours), len(names)), dtype=np.uint8)
    present = np.zeros(len(hours), dtype=bool)
    if len(ts):
        index = np.minimum(np.searchsorted(ts, hours), len(ts) - 1)
        present = ts[index] == hours
        for k, name in enumerate(names):
            if name in features:
                grid[present, k] = values[index[present], features.index(name)]
                observed[present, k] = mask[index[present], features.index(name)]
    if (~present).any():
        calendar = calendar_features(pl.Series(hours[~present]).dt.replace_time_zone("UTC"), timezone, states)
        for k, name in enumerate(names):
            if name in CALENDAR_FEATURES:
                grid[~present, k], observed[~present, k] = calendar[:, CALENDAR_FEATURES.index(name)], 1
    return future_inputs(grid, observed, stats, names)[DAY:][None]
