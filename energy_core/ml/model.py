"""A compact transformer forecaster whose attention is ring attention.

Inputs are feature windows (values and their observed mask); the output is a correction added to
the target's same hours yesterday (a zero-initialized head starts at that baseline). Time enters twice: the calendar
features (local hour, weekday, day of year, holidays) say *when* each hour is, and a sinusoidal
encoding of each hour's distance from the end of the window, at periods of a day, a week, a month
and a year, says *how recent* it is. Every layer but attention works token by token, so under
striped sharding each rank runs the whole model on its own tokens and only attention talks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

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
        # the head starts at zero: a new model forecasts exactly its anchor (the same hours yesterday)
        self.head.weight = mx.zeros_like(self.head.weight)
        self.head.bias = mx.zeros_like(self.head.bias)

    def __call__(self, x: mx.array, mask: mx.array, *, length: int, anchor: mx.array,
                 ring: Ring | None = None) -> mx.array:
        """``x``/``mask``: this rank's striped shard (batch, ceil(length / ranks), features); ``anchor``
        (batch, horizon): the seasonal-naive forecast the model corrects (see :func:`anchor_of`)."""
        ring = ring or Ring()
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
        return anchor + self.head(ring.all_sum(mine))


def anchor_of(x: mx.array, target_column: int, horizon: int) -> mx.array:
    """The target's last 24 hours of the window, repeated over the horizon: "same hour yesterday".

    Forecasting the correction to this baseline, not the level, lets a small model spend itself on
    what the baseline misses. ``x`` is the full window (batch, length, features), normalized.
    """
    day = x[:, -24:, target_column]
    return mx.concatenate([day] * -(-horizon // 24), axis=1)[:, :horizon]


def stripe(x: mx.array, ring: Ring) -> mx.array:
    """This rank's tokens of (batch, length, features): every ``ranks``-th, padded with zeros."""
    if ring.size == 1:
        return x
    length = x.shape[1]
    padded = -(-length // ring.size) * ring.size
    if padded != length:
        x = mx.pad(x, [(0, 0), (0, padded - length), (0, 0)])
    return x[:, ring.rank::ring.size]
