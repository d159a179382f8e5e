"""Training windows and the live context, as MLX arrays.

An entity is normalized once into one contiguous float32 array (masked hours set to 0). Windows are
``sliding_window_view``s of that array, so no window is copied until its batch is handed to MLX.
A window belongs to the split its forecast targets fall in; a training window lies wholly before
validation starts, so nothing from the validation or test period reaches training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from energy_core.blas import load_openblas
from energy_core.errors import ConfigError

load_openblas()  # before mlx.core binds its BLAS, on its first import (see energy_core.blas)
import mlx.core as mx  # noqa: E402

if TYPE_CHECKING:
    from energy_core.features.records import BuildInfo

SPLITS = ("train", "val", "test", "all")


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
                       target: str | None, shuffle_seed: int | None = None) -> Iterator[Batch]:
    """Batches of the windows of ``split`` over one build's arrays (see :meth:`FeatureStore.arrays`)."""
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
    if shuffle_seed is not None:  # random windows per batch: each batch then copies its own windows
        starts = np.random.default_rng(shuffle_seed).permutation(starts)
    for i in range(0, len(starts), batch_size):
        rows = starts[i: i + batch_size]
        pick = slice(rows[0], rows[-1] + 1, stride) if shuffle_seed is None else rows  # ordered: a strided view
        yield Batch(mx.array(x[pick]), mx.array(m[pick]), mx.array(y[pick]), mx.array(ym[pick]), ts[rows])


def real_time_context(info: BuildInfo, ts: np.ndarray, values: np.ndarray, mask: np.ndarray, *,
                      features: list[str] | None) -> Context:
    """The latest hours of a build (see :meth:`FeatureStore.latest_hours`), normalized like a training window."""
    columns = _select(info, features)
    data = normalized(info, values, mask, columns)
    return Context(mx.array(data[None]), mx.array(np.ascontiguousarray(mask[None][:, :, columns])), ts,
                   tuple(info.features[j] for j in columns))
