"""Attention inside one rank: the fused kernel, and exact blockwise attention over tiles.

Blockwise attention splits a rank's queries and one shard of keys into square tiles and keeps, per
tile of queries, a running maximum, sum and weighted sum of values (the online softmax of
FlashAttention), so no more than one tile of scores exists at a time. A tile of keys that the causal
mask hides from every query of a tile is never computed; a tile that some query may not see gets an
additive mask; every other tile runs unmasked. The backward pass recomputes each tile's
probabilities from the saved log-sum-exp instead of keeping them.

Positions follow striped sharding (token ``t`` on rank ``t % ranks``): query ``i`` of rank ``r`` is
token ``i * ranks + r``, key ``j`` of rank ``s`` is token ``j * ranks + s``, so under a causal mask
``j`` is visible to ``i`` when ``j <= i`` (``s <= r``) or ``j < i`` (``s > r``): the same triangle on
every pair of ranks, give or take its diagonal (:class:`Visibility`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
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

    def tiles(self, rows: slice, columns: int, block: int) -> Iterator[tuple[slice, bool]]:
        """The key tiles (of ``block`` keys out of ``columns``) that any query in ``rows`` sees, each
        with whether it needs a mask; tiles hidden from every query in ``rows`` are left out."""
        last_row = rows.stop - 1
        for start in range(0, min(columns, self.keys), block):
            stop = min(start + block, columns)
            if self.offset is not None and start > last_row + self.offset:
                return  # every later tile lies further right of the causal diagonal
            hidden_right = self.offset is not None and stop - 1 > rows.start + self.offset
            yield slice(start, stop), hidden_right or stop > self.keys

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
    """(..., length, dim) cut into tiles of ``block`` positions (views, not copies).

    Keys, values and their gradients travel and are attended as such lists: a shard that arrives
    from another rank in pieces is used as it came, never joined into one array beside its pieces.
    """
    return [x[..., part, :] for part in tiles(x.shape[-2], block)]


def working_copies(q: mx.array, k: mx.array, v: mx.array, block: int
                   ) -> tuple[mx.array, list[mx.array], list[mx.array]]:
    """What the tile kernels start from (see :func:`detached`): the queries multiplied by the softmax
    scale, and the keys and values as tiles of ``block``."""
    k_tiles, v_tiles = (split(x, block) for x in detached(k, v))
    return detached(q)[0] * (1.0 / math.sqrt(q.shape[-1])), k_tiles, v_tiles


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

    def attend(self, q: mx.array, k: list[mx.array], v: list[mx.array], seen: Visibility, rows: slice,
               block: int, alongside: list[mx.array] | None = None) -> Partial:
        """This partial after also attending the keys ``k``/values ``v`` of one shard (tiles of
        ``block``, see :func:`split`); ``q`` holds the queries of ``rows``, already multiplied by the
        softmax scale. Evaluated tile by tile, so one tile of scores exists at a time; ``alongside``
        (a ring's exchange in flight) with the first."""
        peak, total, weighted = self.arrays()
        extra = alongside or []
        for columns, masked in seen.tiles(rows, sum(t.shape[-2] for t in k), block):
            scores = q @ k[columns.start // block].swapaxes(-1, -2)
            if masked:
                scores = scores + seen.bias(rows, columns)
            new_peak = mx.maximum(peak, mx.max(scores, axis=-1, keepdims=True))
            shift = mx.where(new_peak == NEG_INF, 0.0, new_peak)  # rows that have seen no key yet
            p = mx.exp(scores - shift)
            rescale = mx.exp(peak - shift)
            total = total * rescale + mx.sum(p, axis=-1, keepdims=True)
            weighted = weighted * rescale + p @ v[columns.start // block]
            peak = new_peak
            mx.eval(peak, total, weighted, *extra)
            extra = []
        mx.eval(*extra)  # rows that saw no key of this shard
        return Partial(peak, total, weighted)

    def result(self) -> tuple[mx.array, mx.array]:
        """The normalized output and the log-sum-exp of every query's scores (minus infinity for a
        query that saw no key)."""
        seen = self.total > 0
        out = self.weighted / mx.where(seen, self.total, 1.0)
        return out, mx.where(seen, self.peak + mx.log(mx.where(seen, self.total, 1.0)), NEG_INF)[..., 0]


def tile_gradients(q: mx.array, k: list[mx.array], v: list[mx.array], d_out: mx.array, lse: mx.array,
                   delta: mx.array, seen: Visibility, block: int, dq: list[mx.array],
                   alongside: Callable[[], list[mx.array]] = list) -> tuple[list[mx.array], list[mx.array]]:
    """The gradients that this rank's queries send to one shard's keys and values (as tiles of
    ``block``, like ``k`` and ``v``), tile by tile; adds each query tile's share of its gradient to
    ``dq`` in place (unscaled: multiply by the softmax scale at the end). ``q`` is scaled; ``lse``
    and ``delta`` (rowsum of ``d_out * out``) are the forward's, per query.

    Each tile is evaluated before the next, with what ``alongside`` returns (a ring's exchange in
    flight) once per tile of queries. MLX keeps the history of arrays computed inside a custom VJP
    even after evaluation, so the running sums then continue from fresh copies: one tile of scores
    exists at a time.
    """
    columns = sum(t.shape[-2] for t in k)
    dk, dv = [mx.zeros_like(t) for t in k], [mx.zeros_like(t) for t in v]
    for i, rows in enumerate(tiles(q.shape[-2], block)):
        qi, oi, li, di = q[..., rows, :], d_out[..., rows, :], lse[..., rows, None], delta[..., rows, None]
        extra = alongside()
        for cols, masked in seen.tiles(rows, columns, block):
            j = cols.start // block
            kj, vj = k[j], v[j]
            scores = qi @ kj.swapaxes(-1, -2)
            if masked:
                scores = scores + seen.bias(rows, cols)
            p = mx.exp(scores - li)
            ds = p * (oi @ vj.swapaxes(-1, -2) - di)
            sums = (dq[i] + ds @ kj, dk[j] + ds.swapaxes(-1, -2) @ qi, dv[j] + p.swapaxes(-1, -2) @ oi)
            mx.eval(*sums, *extra)
            dq[i], dk[j], dv[j] = detached(*sums)
            extra = []
        mx.eval(*extra)  # queries that see no key of this shard
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
