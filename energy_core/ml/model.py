"""A compact transformer forecaster whose attention is ring attention.

Inputs are feature windows (values and their observed mask); the output is the target's same hours
yesterday plus corrections: a linear autoregressive path over the target's last two days (the
"highway" of LSTNet: it carries the level shift since yesterday that dominates a day-ahead error),
on windows of a week or more a second one over how the same hours a week before differ from
yesterday's (a Saturday follows a Friday, but resembles last Saturday; a holiday resembles neither
last week's day nor the next week's), and the transformer's head. All start at zero, so a new model
forecasts exactly the seasonal-naive baseline and training spends itself on what the baseline misses.
Time enters twice: the calendar features (local hour, weekday, day of year, holidays) say *when* each
hour is, and a sinusoidal encoding of each hour's distance from the end of the window, at periods of
a day, a week, a month and a year, says *how recent* it is. Every layer but attention works token by
token, so under striped sharding each rank runs the whole model on its own tokens and only attention
talks.

The hours being forecast carry their known-future inputs (their calendar and, where the entity has
one, the weather forecast known at the issue time; see :func:`energy_core.features.serving.known_future`),
each with its change since the same hour yesterday. A small per-hour MLP reads them and adds a third
correction, which also starts at zero; a model configured without them (``n_future`` 0, every model
trained before they existed) has no such layer and forecasts as before.

Beside the point forecast, a quantile head gives the P10, P50 and P90 of each hour from what the
point forecast read (the window's summary and the target's last two days), as the median's offset
from the point forecast and two non-negative distances below and above it, so the quantiles never
cross. It learns by pinball loss on inputs it cannot change: the point forecast trains as it would
without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from energy_core.features.calendar import HOLIDAY
from energy_core.ml.ring import Ring, ring_attention

PERIODS = (6.0, 12.0, 24.0, 48.0, 84.0, 168.0, 336.0, 720.0, 2190.0, 8766.0)


@dataclass(frozen=True)
class ModelConfig:
    n_features: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    horizon: int = 24
    mlp_ratio: int = 2
    n_future: int = 0
    """Known-future features read per forecast hour (0: none, the forecaster of older checkpoints)."""
    future_width: int = 32
    weekly: bool = False
    """Whether the forecast reads the change from the same hours a week before to yesterday's through a
    linear path of its own (False: the forecaster of older checkpoints; training sets it on windows of a
    week or more)."""


QUANTILES = (0.1, 0.5, 0.9)
"""The quantiles the quantile head forecasts: P10, P50 and P90."""


def recency_encoding(positions: mx.array, length: int) -> mx.array:
    """(tokens, 2 x periods) sine and cosine of hours-before-the-end at hourly-data periods."""
    before_end = (length - 1 - positions).astype(mx.float32)[:, None]
    angles = 2 * math.pi * before_end / mx.array(PERIODS)[None, :]
    return mx.concatenate([mx.sin(angles), mx.cos(angles)], axis=-1)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model,
                                                                                                 d_model))

    def __call__(self, x: mx.array, length: int, ring: Ring) -> mx.array:
        batch, tokens, width = x.shape
        heads = self.qkv(self.norm1(x)).reshape(batch, tokens, 3, self.n_heads, width // self.n_heads)
        q, k, v = (heads[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
        attended = ring_attention(q, k, v, length=length, causal=True, ring=ring)
        x = x + self.out(attended.transpose(0, 2, 1, 3).reshape(batch, tokens, width))
        return x + self.mlp(self.norm2(x))


class Forecaster(nn.Module):
    """Predicts the next ``horizon`` hours of the target from a window of features."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(2 * config.n_features, config.d_model)
        self.position = nn.Linear(2 * len(PERIODS), config.d_model)
        self.blocks = [Block(config.d_model, config.n_heads, config.mlp_ratio) for _ in range(config.n_layers)]
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.horizon)
        self.autoregressive = nn.Linear(48, config.horizon)
        # both corrections start at zero: a new model forecasts exactly the same hours yesterday
        _start_at_zero(self.head, self.autoregressive)
        # built last, so the layers above draw the same initial weights as before it existed
        self.quantile_head = nn.Linear(config.d_model + 48, 3 * config.horizon)
        self.quantile_head.weight = mx.zeros_like(self.quantile_head.weight)
        # the median starts at the point forecast, P10 and P90 at 0.3 standard deviations from it
        self.quantile_head.bias = mx.concatenate([mx.zeros(config.horizon),
                                                  mx.full((2 * config.horizon,), math.log(math.expm1(0.3)))])
        if config.n_future:  # built after the rest, so they draw the same initial weights with or without it
            self.ahead = nn.Sequential(nn.Linear(3 * config.n_future, config.future_width), nn.GELU(),
                                       nn.Linear(config.future_width, 1))
            _start_at_zero(self.ahead.layers[-1])
        if config.weekly:  # the same: built last, starting at zero
            self.weekly = _start_at_zero(nn.Linear(24, config.horizon))

    def __call__(self, x: mx.array, mask: mx.array, *, length: int, recent: mx.array,
                 future: mx.array | None = None, ring: Ring | None = None) -> mx.array:
        """The point forecast (batch, horizon). ``x``/``mask``: this rank's striped shard (batch,
        ceil(length / ranks), features); ``recent`` (batch, 72): the target's hours a week before
        those forecast and its last two days, of the whole window (see :func:`recent_target`);
        ``future`` (batch, horizon, 3 x n_future): the known-future inputs of the hours forecast (see
        :func:`energy_core.features.serving.ahead_inputs`), whole on every rank, required when the
        model has ``n_future``."""
        return self.forecast(x, mask, length=length, recent=recent, future=future, ring=ring)[0]

    def forecast(self, x: mx.array, mask: mx.array, *, length: int, recent: mx.array,
                 future: mx.array | None = None, ring: Ring | None = None) -> tuple[mx.array, mx.array]:
        """The point forecast (batch, horizon) and its :data:`QUANTILES` (batch, 3, horizon), from the
        inputs of :meth:`__call__`."""
        ring = ring or Ring()
        n_future = self.config.n_future
        if n_future and (future is None or tuple(future.shape[1:]) != (self.config.horizon, 3 * n_future)):
            raise ValueError(f"this model reads {n_future} known-future features per forecast hour: pass future of "
                             f"shape (batch, {self.config.horizon}, {3 * n_future}), not "
                             f"{None if future is None else future.shape}")
        yesterday = recent[:, -24:]
        # The linear path reads how each of the last 24 hours changed from the day before, and the last
        # day's shape around its mean: centred inputs. Raw levels (all alike) made AdamW's steps swing
        # the whole forecast at once.
        change = yesterday - recent[:, -48:-24]
        shape = yesterday - mx.mean(yesterday, axis=1, keepdims=True)
        positions = mx.arange(x.shape[1]) * ring.size + ring.rank
        h = self.embed(mx.concatenate([x, mask.astype(x.dtype)], axis=-1)) + self.position(
            recency_encoding(positions, length))
        for block in self.blocks:
            h = block(h, length, ring)
        h = self.norm(h)
        # The window's final hour lives on one rank; all_sum hands it to every rank. The others keep it
        # in their graph times zero, so every rank takes part in the ring's backward pass.
        last = length - 1
        mine = h[:, last // ring.size] * float(last % ring.size == ring.rank)
        summary, recent_inputs = ring.all_sum(mine), mx.concatenate([change, shape], axis=1)
        point = anchor(recent, self.config.horizon) + self.autoregressive(recent_inputs) + self.head(summary)
        if n_future:
            point = point + self.ahead(future)[..., 0]
        if self.config.weekly:
            point = point + self.weekly(yesterday - recent[:, :24])
        offsets = self.quantile_head(mx.stop_gradient(mx.concatenate([summary, recent_inputs], axis=1)))
        median, below, above = mx.split(offsets.reshape(-1, 3, self.config.horizon), 3, axis=1)
        median = mx.stop_gradient(point)[:, None] + median
        return point, mx.concatenate([median - nn.softplus(below), median, median + nn.softplus(above)], axis=1)


def _start_at_zero(*layers: nn.Linear) -> nn.Linear:
    """Zero the weights and biases of ``layers`` (a correction that starts by adding nothing); returns the last."""
    for layer in layers:
        layer.weight, layer.bias = mx.zeros_like(layer.weight), mx.zeros_like(layer.bias)
    return layers[-1]


def widened(bands: np.ndarray, widening: float) -> np.ndarray:
    """``bands`` (batch, :data:`QUANTILES`, horizon) with P10 moved down and P90 up by ``widening`` (a
    checkpoint's :attr:`~energy_core.ml.train.TrainState.interval_widening`); a negative one narrows
    them, never past P50."""
    low, median, high = bands[:, 0], bands[:, 1], bands[:, -1]
    return np.stack([np.minimum(low - widening, median), median, np.maximum(high + widening, median)], axis=1)


def anchor(recent: mx.array, horizon: int) -> mx.array:
    """(batch, horizon): the forecast of a new model, the target's same hours yesterday (repeated
    beyond a day), from ``recent`` (see :func:`recent_target`)."""
    yesterday = recent[:, -24:]
    return mx.concatenate([yesterday] * -(-horizon // 24), axis=1)[:, :horizon]


WEEK = 168


def recent_target(x: mx.array, mask: mx.array, target_column: int, *, future: mx.array | None = None,
                  holiday: tuple[int, int] | None = None) -> mx.array:
    """(batch, 72): the target's hours a week before the 24 forecast, then its last 48 hours, of the
    full window (batch, length, features), normalized.

    An hour of the last two days that was not observed takes the same hour a day earlier (EIA-930
    loses whole days), so the anchor and the linear paths never read a gap as the target's mean; an
    hour a week before that was not observed (or lies before a window shorter than a week) takes
    yesterday's, so it reads as no change. So does one whose holiday share differs from the hour
    forecast's, given ``holiday`` (see :func:`holiday_columns`) and the window's ``future`` inputs: a
    Memorial Day is no Monday (read as one, ISNE's forecast of it in 2019 missed by 10%). Every rank
    passes the same, unsharded hours, so none needs communication.
    """
    values, observed = x[:, -72:, target_column], mask[:, -72:, target_column].astype(mx.bool_)
    last_two = mx.where(observed[:, 24:], values[:, 24:], values[:, :48])
    yesterday = last_two[:, 24:]
    if x.shape[1] < WEEK:
        return mx.concatenate([yesterday, last_two], axis=1)
    week_ago = x[:, -WEEK:-WEEK + 24, target_column]
    like = mask[:, -WEEK:-WEEK + 24, target_column].astype(mx.bool_)
    if holiday is not None and future is not None and future.shape[1] >= 24:
        column, index = holiday  # both normalized alike; shares differ by 1/states at least, far above 1e-3
        like = like & (mx.abs(x[:, -WEEK:-WEEK + 24, column] - future[:, :24, index]) < 1e-3)
    return mx.concatenate([mx.where(like, week_ago, yesterday), last_two], axis=1)


def holiday_columns(features: Sequence[str], future: Sequence[str]) -> tuple[int, int] | None:
    """Where :func:`recent_target` finds the holiday share: its column among a window's ``features``
    and its index among the ``future`` inputs of the hours forecast; None unless it is in both."""
    if HOLIDAY in features and HOLIDAY in future:
        return features.index(HOLIDAY), future.index(HOLIDAY)
    return None


def recent_readable(mask: mx.array, target_column: int) -> mx.array:
    """(batch,) whether each of the target's last 48 hours is observed or filled from the day before
    (see :func:`recent_target`). Where one is neither, that hour of the anchor is the target's mean."""
    observed = mask[:, -72:, target_column].astype(mx.bool_)
    return mx.all(observed[:, 24:] | observed[:, :48], axis=1)


def stripe(x: mx.array, ring: Ring) -> mx.array:
    """This rank's tokens of (batch, length, features): every ``ranks``-th, padded with zeros."""
    if ring.size == 1:
        return x
    length = x.shape[1]
    padded = -(-length // ring.size) * ring.size
    if padded != length:
        x = mx.pad(x, [(0, 0), (0, padded - length), (0, 0)])
    return x[:, ring.rank::ring.size]
