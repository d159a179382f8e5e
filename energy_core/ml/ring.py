"""Exact ring attention in MLX.

The sequence is split across a ring of ranks with *striped* sharding (token ``t`` lives on rank
``t % n``), so under a causal mask every rank has the same amount of work instead of the first rank
idling. Each rank keeps its queries; key/value blocks travel to the next rank, one hop per step.
Partial results are merged with a numerically stable log-sum-exp in float32, so the output equals
full softmax attention. The backward pass recomputes each block (as FlashAttention does) and sends
the key/value gradients around the ring back to their owners, so memory stays flat.

Two drivers share the block arithmetic: :func:`ring_attention` runs on one rank of an
``mx.distributed`` group (or a ring of one), :func:`simulated_ring_attention` runs every rank of a
ring inside one process, for tests and benchmarks.
"""

from __future__ import annotations

import math
from typing import cast

import mlx.core as mx
import numpy as np

NEG_INF = float("-inf")


# -- block arithmetic (shared) -------------------------------------------------------------------------

def _positions(rank: int, ranks: int, local: int) -> mx.array:
    """Global token positions held by ``rank`` under striped sharding."""
    return mx.arange(local) * ranks + rank


def _mask(q_pos: mx.array, k_pos: mx.array, length: int, causal: bool) -> mx.array:
    """(Lq, Lk) True where query may attend key: key is real (not padding) and, if causal, not ahead."""
    allowed = (k_pos < length)[None, :]
    if causal:
        allowed = allowed & (k_pos[None, :] <= q_pos[:, None])
    return allowed


def _block_forward(q: mx.array, k: mx.array, v: mx.array, allowed: mx.array,
                   scale: float) -> tuple[mx.array, mx.array]:
    """Attention of q over one key block: the block's normalized output and its log-sum-exp."""
    s = (q @ k.swapaxes(-1, -2)) * scale
    s = mx.where(allowed, s, NEG_INF)
    peak = mx.max(s, axis=-1, keepdims=True)
    peak = mx.where(mx.isinf(peak), 0.0, peak)  # a query with no visible key in this block
    p = mx.exp(s - peak)
    total = mx.sum(p, axis=-1, keepdims=True)
    out = (p @ v) / mx.maximum(total, 1e-30)
    lse = mx.where(total > 0, peak + mx.log(mx.maximum(total, 1e-30)), NEG_INF)
    return out, lse[..., 0]


def _merge(out: mx.array, lse: mx.array, block_out: mx.array, block_lse: mx.array) -> tuple[mx.array, mx.array]:
    """Combine two partial softmax results exactly: weights exp(lse - logaddexp(lse, block_lse))."""
    new = mx.logaddexp(lse, block_lse)
    new_safe = mx.where(mx.isinf(new), 0.0, new)
    a = mx.where(mx.isinf(lse), 0.0, mx.exp(lse - new_safe))[..., None]
    b = mx.where(mx.isinf(block_lse), 0.0, mx.exp(block_lse - new_safe))[..., None]
    return out * a + block_out * b, new


def _block_backward(q: mx.array, k: mx.array, v: mx.array, d_out: mx.array, lse: mx.array, delta: mx.array,
                    allowed: mx.array, scale: float) -> tuple[mx.array, mx.array, mx.array]:
    """Gradients through one key block, recomputing its probabilities from the saved log-sum-exp."""
    s = (q @ k.swapaxes(-1, -2)) * scale
    lse_safe = mx.where(mx.isinf(lse), 0.0, lse)[..., None]
    p = mx.where(allowed & ~mx.isinf(lse)[..., None], mx.exp(s - lse_safe), 0.0)
    dv = p.swapaxes(-1, -2) @ d_out
    ds = p * ((d_out @ v.swapaxes(-1, -2)) - delta[..., None])
    return (ds @ k) * scale, (ds.swapaxes(-1, -2) @ q) * scale, dv


def _cut(*arrays: mx.array) -> tuple[mx.array, ...]:
    """The same values as new leaves, through host memory.

    Under ``mx.grad`` an array keeps its whole history alive even after ``mx.eval``; the ring's running
    results would then hold every block's scores until the gradient is done. A round-trip through
    NumPy starts a fresh graph, so each block is freed when the next one arrives.
    """
    return tuple(mx.array(np.array(a)) for a in arrays)


# -- one rank of a distributed ring ----------------------------------------------------------------------

class Ring:
    """This process's place in a ring: neighbours exchange blocks with ``mx.distributed`` send/recv."""

    def __init__(self, group: mx.distributed.Group | None = None) -> None:
        self.group = group
        self.rank = group.rank() if group is not None else 0
        self.size = group.size() if group is not None else 1

    def shift(self, *arrays: mx.array) -> tuple[mx.array, ...]:
        """Send ``arrays`` to the next rank and return the previous rank's. Even ranks send first and
        odd ranks receive first, so no two neighbours wait on each other."""
        if self.size == 1:
            return arrays
        nxt, prv = (self.rank + 1) % self.size, (self.rank - 1) % self.size
        arrays = tuple(mx.contiguous(a) for a in arrays)
        mx.eval(*arrays)  # finish local work first, so no other collective starts mid-exchange
        received = []
        for a in arrays:
            if self.rank % 2 == 0:
                mx.eval(mx.distributed.send(a, nxt, group=self.group))
                r = mx.distributed.recv_like(a, prv, group=self.group)
                mx.eval(r)
            else:
                r = mx.distributed.recv_like(a, prv, group=self.group)
                mx.eval(r)
                mx.eval(mx.distributed.send(a, nxt, group=self.group))
            received.append(r)
        return tuple(received)

    def all_sum(self, x: mx.array) -> mx.array:
        """Sum over ranks, evaluated now: a collective left lazy could start on one rank while its
        neighbour waits inside a ring exchange."""
        if self.size == 1:
            return x
        summed = mx.distributed.all_sum(x, group=self.group)
        mx.eval(summed)
        return summed


def ring_attention(q: mx.array, k: mx.array, v: mx.array, *, length: int, causal: bool = True,
                   ring: Ring | None = None) -> mx.array:
    """Attention for this rank's striped shard: q, k, v are (batch, heads, local, head_dim), where
    local = ceil(length / ranks); ``length`` is the real (unpadded) sequence length."""
    ring = ring or Ring()
    scale = 1.0 / math.sqrt(q.shape[-1])
    local = q.shape[-2]
    q_pos = _positions(ring.rank, ring.size, local)

    def owner_mask(step: int) -> mx.array:
        return _mask(q_pos, _positions((ring.rank - step) % ring.size, ring.size, local), length, causal)

    @mx.custom_function
    def attend(q: mx.array, k: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        qf, kb, vb = q.astype(mx.float32), k.astype(mx.float32), v.astype(mx.float32)
        out = mx.zeros(qf.shape, dtype=mx.float32)
        lse = mx.full(qf.shape[:-1], NEG_INF, dtype=mx.float32)
        for step in range(ring.size):
            block_out, block_lse = _block_forward(qf, kb, vb, owner_mask(step), scale)
            out, lse = _merge(out, lse, block_out, block_lse)
            if ring.size > 1:
                out, lse = _cut(out, lse)  # free this block's scores before the next block arrives
            if step < ring.size - 1:
                kb, vb = ring.shift(kb, vb)
        return out.astype(q.dtype), lse

    @attend.vjp
    def attend_vjp(primals: tuple[mx.array, mx.array, mx.array], cotangents: tuple[mx.array, mx.array],
                   outputs: tuple[mx.array, mx.array]) -> tuple[mx.array, mx.array, mx.array]:
        q, k, v = primals
        d_out = cotangents[0].astype(mx.float32)
        out, lse = outputs
        qf, kb, vb = q.astype(mx.float32), k.astype(mx.float32), v.astype(mx.float32)
        delta = mx.sum(d_out * out.astype(mx.float32), axis=-1)
        dq, dkb, dvb = mx.zeros_like(qf), mx.zeros_like(kb), mx.zeros_like(vb)
        for step in range(ring.size):
            gq, gk, gv = _block_backward(qf, kb, vb, d_out, lse, delta, owner_mask(step), scale)
            dq, dkb, dvb = dq + gq, dkb + gk, dvb + gv
            if ring.size > 1:
                (dq,) = _cut(dq)
            kb, vb, dkb, dvb = ring.shift(kb, vb, dkb, dvb)  # n shifts bring every gradient home
        return dq.astype(q.dtype), dkb.astype(k.dtype), dvb.astype(v.dtype)

    outputs = cast(tuple[mx.array, ...], attend(q, k, v))  # MLX types a custom_function's call as object
    return outputs[0]


# -- every rank of a ring, in one process ----------------------------------------------------------------

def shard(x: mx.array, ranks: int) -> list[mx.array]:
    """Striped shards of (..., length, d) along the sequence axis, padded to a multiple of ``ranks``."""
    length = x.shape[-2]
    padded = -(-length // ranks) * ranks
    if padded != length:
        pad = [(0, 0)] * (x.ndim - 2) + [(0, padded - length), (0, 0)]
        x = mx.pad(x, pad)
    striped = x.reshape(*x.shape[:-2], padded // ranks, ranks, x.shape[-1])
    return [striped[..., r, :] for r in range(ranks)]


def unshard(parts: list[mx.array], length: int) -> mx.array:
    striped = mx.stack(parts, axis=-2)
    return striped.reshape(*striped.shape[:-3], -1, striped.shape[-1])[..., :length, :]


def simulated_ring_attention(q: mx.array, k: mx.array, v: mx.array, *, ranks: int, causal: bool = True) -> mx.array:
    """Full-sequence attention computed the way a ring of ``ranks`` computes it, all in this process."""
    length = q.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    local = -(-length // ranks)
    pos = [_positions(r, ranks, local) for r in range(ranks)]

    def masks(step: int) -> list[mx.array]:
        return [_mask(pos[r], pos[(r - step) % ranks], length, causal) for r in range(ranks)]

    def rotate(blocks: list[mx.array]) -> list[mx.array]:
        return [blocks[(r - 1) % ranks] for r in range(ranks)]

    @mx.custom_function
    def attend(q: mx.array, k: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        qs, kb, vb = (shard(t.astype(mx.float32), ranks) for t in (q, k, v))
        out = [mx.zeros(x.shape, dtype=mx.float32) for x in qs]
        lse = [mx.full(x.shape[:-1], NEG_INF, dtype=mx.float32) for x in qs]
        for step in range(ranks):
            for r, allowed in enumerate(masks(step)):
                block = _block_forward(qs[r], kb[r], vb[r], allowed, scale)
                out[r], lse[r] = _merge(out[r], lse[r], *block)
            kb, vb = rotate(kb), rotate(vb)
        return unshard(out, length).astype(q.dtype), mx.stack(lse)

    @attend.vjp
    def attend_vjp(primals: tuple[mx.array, mx.array, mx.array], cotangents: tuple[mx.array, mx.array],
                   outputs: tuple[mx.array, mx.array]) -> tuple[mx.array, ...]:
        q, k, v = primals
        out, lse = outputs
        qs, kb, vb = (shard(t.astype(mx.float32), ranks) for t in (q, k, v))
        d_out = shard(cotangents[0].astype(mx.float32), ranks)
        outs = shard(out.astype(mx.float32), ranks)
        delta = [mx.sum(d * o, axis=-1) for d, o in zip(d_out, outs, strict=True)]
        dq = [mx.zeros_like(x) for x in qs]
        dk, dv = [mx.zeros_like(x) for x in kb], [mx.zeros_like(x) for x in vb]
        for step in range(ranks):
            for r, allowed in enumerate(masks(step)):
                gq, gk, gv = _block_backward(qs[r], kb[r], vb[r], d_out[r], lse[r], delta[r], allowed, scale)
                dq[r], dk[r], dv[r] = dq[r] + gq, dk[r] + gk, dv[r] + gv
            kb, vb, dk, dv = rotate(kb), rotate(vb), rotate(dk), rotate(dv)
        return tuple(unshard(g, length).astype(t.dtype) for g, t in ((dq, q), (dk, k), (dv, v)))

    outputs = cast(tuple[mx.array, ...], attend(q, k, v))  # MLX types a custom_function's call as object
    return outputs[0]


def naive_attention(q: mx.array, k: mx.array, v: mx.array, *, causal: bool = True) -> mx.array:
    """Plain softmax attention, the reference the ring must equal."""
    length = q.shape[-2]
    s = (q @ k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        s = mx.where(mx.tril(mx.ones((length, length), dtype=mx.bool_)), s, NEG_INF)
    return mx.softmax(s, axis=-1) @ v
