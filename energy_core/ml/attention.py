"""Attention inside one rank: the fused kernel, and exact blockwise attention over tiles.

Blockwise attention splits a rank's queries and one shard of keys into square tiles and keeps, per
tile of queries, a running maximum, sum and weighted sum of values (the online softmax of
FlashAttention), so no more than one tile of scores exists at a time. Keys are the outer loop: a
tile of keys meets every tile of queries that sees it before the next tile of keys does, so a ring
can pass it on and let it go (the tile that takes its place arriving meanwhile) as soon as it is
used. A tile of keys that the causal mask hides from every query of a tile is never computed; a
tile that some query may not see gets an additive mask; every other tile runs unmasked. The
backward pass recomputes each tile's probabilities from the saved log-sum-exp instead of keeping
them.

Positions follow striped sharding (token ``t`` on rank ``t % ranks``): query ``i`` of rank ``r`` is
token ``i * ranks + r``, key ``j`` of rank ``s`` is token ``j * ranks + s``, so under a causal mask
``j`` is visible to ``i`` when ``j <= i`` (``s <= r``) or ``j < i`` (``s > r``): the same triangle on
every pair of ranks, give or take its diagonal (:class:`Visibility`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

BLOCK = 512
"""The most queries and keys per tile: 512 x 512 scores per head (1 MiB in float32). Smaller tiles
waste less of the causal diagonal; larger ones call fewer kernels."""
SMALLEST_BLOCK = 128


def block_for(local: int) -> int:
    """Queries and keys per tile for a rank that holds ``local`` of them: about sqrt(32 x local), a
    multiple of 64 from :data:`SMALLEST_BLOCK` to :data:`BLOCK` (512 from 8,192 on).

    A tile's scratch (its scores, probabilities and their gradients) then grows as the shard does, so
    it shrinks on larger rings with the rest of a rank's memory: with 512-wide tiles at every size, a
    rank of a ring of four held 0.46 of a ring of one's peak at 8,760 tokens instead of about a quarter
    (benchmarks/README.md, Attention).
    """
    return max(SMALLEST_BLOCK, min(BLOCK, 64 * round(math.sqrt(32 * local) / 64)))


FUSED_MAX_LENGTH = 2048
FUSED_MAX_SCORES = 2**26
"""On the CPU, ``mx.fast.scaled_dot_product_attention`` is the plain computation: it holds every
score at once (batch x heads x length^2 floats) and computes the masked half of a causal matrix too.
On short sequences it is still the faster path (a causal skip saves little and it calls far fewer
kernels); from about 2,048 tokens the blockwise path is faster, and it holds one tile of scores.
So one process uses the fused kernel up to :data:`FUSED_MAX_LENGTH` tokens and
:data:`FUSED_MAX_SCORES` scores (256 MiB of float32), and the blockwise path beyond. On a GPU the
fused kernels are lean and fast at every length."""

NEG_INF = float("-inf")


def fused_attention(q: mx.array, k: mx.array, v: mx.array, *, causal: bool) -> mx.array:
    """``mx.fast.scaled_dot_product_attention``: Metal and CUDA kernels where present."""
    return mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5,
                                                mask="causal" if causal else None)


def fused_is_better(q: mx.array) -> bool:
    """Whether one process should call the fused kernel for queries ``q`` (batch, heads, length, dim)
    rather than the blockwise path (see :data:`FUSED_MAX_SCORES`)."""
    batch, heads, length, _ = q.shape
    if mx.default_device() == mx.gpu:
        return True
    return length <= FUSED_MAX_LENGTH and batch * heads * length * length <= FUSED_MAX_SCORES


@dataclass(frozen=True)
class Visibility:
    """Which keys of one key shard the queries of one query shard may see: key ``j`` is visible to
    query ``i`` when ``j < keys`` (the shard's real keys; the rest are padding) and, under a causal
    mask, ``j <= i + offset``."""

    keys: int
    offset: int | None
    """0 or -1 under a causal mask; None without one."""

    @classmethod
    def striped(cls, query_rank: int, key_rank: int, ranks: int, length: int, causal: bool) -> Visibility:
        """The visibility between two ranks' shards of a ``length``-token sequence."""
        return cls(keys=len(range(key_rank, length, ranks)),
                   offset=(0 if key_rank <= query_rank else -1) if causal else None)

    def sees(self, rows: slice, columns: slice) -> bool:
        """Whether any query of ``rows`` sees any key of ``columns``."""
        return columns.start < self.keys and (self.offset is None or columns.start <= rows.stop - 1 + self.offset)

    def masks(self, rows: slice, columns: slice) -> bool:
        """Whether some query of ``rows`` does not see some key of ``columns``."""
        hidden_right = self.offset is not None and columns.stop - 1 > rows.start + self.offset
        return hidden_right or columns.stop > self.keys

    def pairs(self, rows: list[slice], columns: slice) -> list[tuple[int, mx.array | None]]:
        """The tiles of queries (their index in ``rows``) that see some key of ``columns``, each with
        its additive mask (:meth:`bias`) where it needs one; tiles that see no key are left out."""
        return [(i, self.bias(r, columns) if self.masks(r, columns) else None)
                for i, r in enumerate(rows) if self.sees(r, columns)]

    def bias(self, rows: slice, columns: slice) -> mx.array:
        """(rows, columns) additive mask: 0 where the query sees the key, minus infinity elsewhere."""
        row = mx.arange(rows.start, rows.stop)[:, None]
        col = mx.arange(columns.start, columns.stop)[None, :]
        seen = col < self.keys
        if self.offset is not None:
            seen = seen & (col <= row + self.offset)
        return mx.where(seen, 0.0, NEG_INF)


def tiles(length: int, block: int) -> list[slice]:
    """``length`` positions cut into tiles of ``block``."""
    return [slice(start, min(start + block, length)) for start in range(0, length, block)]


def split(x: mx.array, block: int) -> list[mx.array]:
    """(..., length, dim) cut into tiles of ``block`` positions, each an array of its own (see
    :func:`detached`).

    Keys, values and their gradients travel and are attended as such lists: a tile can then be let go,
    or replaced by the one arriving in its place, without the rest of its shard (a view would keep the
    whole shard alive).
    """
    return list(detached(*(x[..., part, :] for part in tiles(x.shape[-2], block))))


def working_copies(q: mx.array, k: mx.array, v: mx.array, block: int
                   ) -> tuple[mx.array, list[mx.array], list[mx.array]]:
    """What the tile kernels start from (see :func:`detached`): the queries multiplied by the softmax
    scale, and the keys and values as tiles of ``block``."""
    return detached(q)[0] * (1.0 / math.sqrt(q.shape[-1])), split(k, block), split(v, block)


@dataclass
class Partial:
    """A tile of queries' attention so far: running maximum score, sum of exponentials and weighted
    sum of values, all in float32."""

    peak: mx.array
    total: mx.array
    weighted: mx.array

    @classmethod
    def empty(cls, q: mx.array) -> Partial:
        rows = (*q.shape[:-1], 1)
        return cls(mx.full(rows, NEG_INF), mx.zeros(rows), mx.zeros(q.shape, dtype=mx.float32))

    def arrays(self) -> tuple[mx.array, mx.array, mx.array]:
        return self.peak, self.total, self.weighted

    def attend(self, q: mx.array, k: mx.array, v: mx.array, bias: mx.array | None) -> Partial:
        """This partial after also attending one tile of keys ``k``/values ``v`` (lazily); ``q`` holds
        its queries already multiplied by the softmax scale, ``bias`` is the tile's additive mask."""
        scores = q @ k.swapaxes(-1, -2)
        if bias is not None:
            scores = scores + bias
        peak = mx.maximum(self.peak, mx.max(scores, axis=-1, keepdims=True))
        shift = mx.where(peak == NEG_INF, 0.0, peak)  # rows that have seen no key yet
        p = mx.exp(scores - shift)
        rescale = mx.exp(self.peak - shift)
        return Partial(peak, self.total * rescale + mx.sum(p, axis=-1, keepdims=True),
                       self.weighted * rescale + p @ v)

    def result(self) -> tuple[mx.array, mx.array]:
        """The normalized output and the log-sum-exp of every query's scores (minus infinity for a
        query that saw no key)."""
        seen = self.total > 0
        out = self.weighted / mx.where(seen, self.total, 1.0)
        return out, mx.where(seen, self.peak + mx.log(mx.where(seen, self.total, 1.0)), NEG_INF)[..., 0]


Pairs = list[tuple[int, mx.array | None]]
"""The tiles of queries that see a tile of keys, with their masks (:meth:`Visibility.pairs`)."""


def attend_keys(partials: list[Partial], q: mx.array, k: mx.array, v: mx.array, rows: list[slice], pairs: Pairs,
                alongside: Callable[[], list[mx.array]] = list) -> None:
    """Every tile of queries in ``pairs`` (``rows`` of the scaled ``q``) attends one tile of keys
    ``k`` and values ``v``; ``partials`` are updated in place. Each is evaluated before the next, so
    one tile of scores exists at a time, with what ``alongside`` returns (a ring's exchange in flight)."""
    for i, bias in pairs:
        partials[i] = partials[i].attend(q[..., rows[i], :], k, v, bias)
        mx.eval(*partials[i].arrays(), *alongside())


def key_gradients(q: mx.array, k: mx.array, v: mx.array, d_out: mx.array, lse: mx.array, delta: mx.array,
                  rows: list[slice], pairs: Pairs, dq: list[mx.array],
                  alongside: Callable[[], list[mx.array]] = list) -> tuple[mx.array, mx.array]:
    """The gradients that the tiles of queries in ``pairs`` send to one tile of keys ``k`` and values
    ``v``; adds each query tile's share of its own gradient to ``dq`` in place (unscaled: multiply by
    the softmax scale at the end). ``q`` is scaled; ``lse`` and ``delta`` (rowsum of
    ``d_out * out``) are the forward's, per query.

    Each pair of tiles is evaluated before the next, with what ``alongside`` returns (a ring's
    exchange in flight). MLX keeps the history of arrays computed inside a custom VJP even after
    evaluation, so the running sums then continue from fresh copies: one tile of scores exists at a
    time.
    """
    dk, dv = mx.zeros_like(k), mx.zeros_like(v)
    for i, bias in pairs:
        r = rows[i]
        qi, oi, li, di = q[..., r, :], d_out[..., r, :], lse[..., r, None], delta[..., r, None]
        scores = qi @ k.swapaxes(-1, -2)
        if bias is not None:
            scores = scores + bias
        p = mx.exp(scores - li)
        ds = p * (oi @ v.swapaxes(-1, -2) - di)
        sums = (dq[i] + ds @ k, dk + ds.swapaxes(-1, -2) @ qi, dv + p.swapaxes(-1, -2) @ oi)
        mx.eval(*sums, *alongside())
        dq[i], dk, dv = detached(*sums)
    return dk, dv


def detached(*arrays: mx.array) -> tuple[mx.array, ...]:
    """The same values in float32 as new arrays that no transformation traces.

    Under ``mx.grad``, an array computed from a traced one keeps its whole history alive even after
    ``mx.eval``; tile-by-tile evaluation would then hold every tile's scores until the gradient is
    done. The blockwise kernels evaluate tile by tile and bring their own backward, so they start
    from copies: O(length x dim) each, against the O(length^2) they save. A copy of a view (a shard,
    a transposed projection) is made contiguous first: a copy of the strided view itself would keep
    the whole array it views alive.
    """
    return tuple(mx.array(np.ascontiguousarray(a.astype(mx.float32))) for a in arrays)
