"""Exact ring attention in MLX.

The sequence is split across a ring of ranks with *striped* sharding (token ``t`` lives on rank
``t % n``), so under a causal mask every rank has the same amount of work instead of the first rank
idling. Each rank keeps its queries; key/value blocks travel to the next rank, one hop per step, and
each rank attends them tile by tile (:mod:`energy_core.ml.attention`): tiles the causal mask hides
are skipped, partial results merge by online softmax in float32, so the output equals full softmax
attention. The backward pass recomputes each tile (as FlashAttention does) and sends the key/value
gradients around the ring back to their owners, so memory stays flat.

Exchange overlaps compute, a tile at a time: a rank sends each tile of keys and values on while
every tile of its queries attends it, and receives the previous rank's tile into its slot, so it
holds one block and the tile in flight (gradients likewise in the backward), 1/N of what one process
holding every token holds. Communication runs on the stream MLX gives the group's backend, the
tiles on a stream of their own, and every message is issued in the same order on every rank.

A ring of one on one process calls the fused kernel (``mx.fast.scaled_dot_product_attention``)
unless its score matrix would be large on the CPU, where the blockwise path is faster and lean
(:func:`energy_core.ml.attention.fused_is_better`).

Two drivers share the tile arithmetic: :func:`ring_attention` runs on one rank of an
``mx.distributed`` group (or a ring of one), :func:`simulated_ring_attention` runs every rank of a
ring inside one process, for tests.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from typing import cast

import mlx.core as mx

from energy_core.ml.attention import (
    NEG_INF,
    Partial,
    Visibility,
    attend_keys,
    block_for,
    detached,
    fused_attention,
    fused_is_better,
    key_gradients,
    split,
    tiles,
    working_copies,
)


class Shift:
    """Arrays (lists of tiles, all tiled alike) to the next rank, and the previous rank's in their
    place, one tile at a time: tile ``j`` of every array leaves while the caller computes with it and
    the previous rank's tile ``j`` takes its slot, so a rank holds one block of each array and the
    tile in flight, never two blocks.

    ``mx.async_eval`` is not allowed inside ``mx.grad``, so the messages move while the caller
    computes this way: the caller evaluates each piece of its work together with the next operations
    of :meth:`pop` (sends and receives, in an order every rank shares), and MLX runs them on their
    own streams at once; :meth:`land` finishes what is left. Even ranks send each message before
    receiving one and odd ranks the other way round, so no two neighbours wait on each other.
    """

    def __init__(self, ring: Ring, arrays: tuple[list[mx.array], ...]) -> None:
        self._ring, self._arrays = ring, arrays
        self._pending: deque[mx.array] = deque()
        self._arriving: list[mx.array] = []
        self._per_pop = 1

    def start(self, j: int, alongside: int) -> None:
        """Start sending tile ``j`` of every array and receiving the previous rank's, the messages
        spread evenly over the caller's next ``alongside`` pops."""
        ring = self._ring
        nxt, prv = (ring.rank + 1) % ring.size, (ring.rank - 1) % ring.size
        for array in self._arrays:
            message = mx.contiguous(array[j])
            with ring.communicating():
                sent = mx.distributed.send(message, nxt, group=ring.group)
                self._arriving.append(mx.distributed.recv_like(message, prv, group=ring.group))
            self._pending.extend((sent, self._arriving[-1]) if ring.rank % 2 == 0 else (self._arriving[-1], sent))
        self._per_pop = -(-len(self._pending) // max(1, alongside))

    def pop(self) -> list[mx.array]:
        """The next sends and receives to evaluate, alongside a piece of work (none once all are done)."""
        return [self._pending.popleft() for _ in range(min(self._per_pop, len(self._pending)))]

    def land(self, j: int) -> None:
        """Finish tile ``j``'s messages and put the previous rank's tiles in our tiles' slots: ours go."""
        while self._pending:
            mx.eval(self._pending.popleft())
        for array, arrived in zip(self._arrays, self._arriving, strict=True):
            array[j] = arrived
        self._arriving = []

    def run(self) -> None:
        """Move every tile with nothing to compute beside it."""
        for j in range(len(self._arrays[0]) if self._arrays else 0):
            self.start(j, alongside=1)
            self.land(j)


class Ring:
    """This process's place in a ring: neighbours exchange blocks with ``mx.distributed`` send/recv."""

    def __init__(self, group: mx.distributed.Group | None = None) -> None:
        self.group = group
        self.rank = group.rank() if group is not None else 0
        self.size = group.size() if group is not None else 1
        device = mx.default_device()
        self._streams = (mx.default_stream(device), mx.new_stream(device)) if self.size > 1 else None

    def computing(self) -> AbstractContextManager[object]:
        """Where this rank's tiles run: a stream of their own (a ring of one needs none)."""
        return mx.stream(self._streams[1]) if self._streams else nullcontext()

    def communicating(self) -> AbstractContextManager[object]:
        """The streams as they were outside :meth:`computing`, so that exchanges run where MLX puts
        the group's backend (the CPU's default stream for ring and MPI, the GPU's for NCCL), beside
        the tiles instead of in line with them."""
        return mx.stream(self._streams[0]) if self._streams else nullcontext()

    def shift(self, *arrays: list[mx.array]) -> Shift:
        """Arrays (lists of tiles, all tiled alike) to move to the next rank tile by tile, the previous
        rank's taking their place (see :class:`Shift`); with none, nothing moves."""
        return Shift(self, arrays)

    def all_sum(self, x: mx.array) -> mx.array:
        """Sum over ranks, evaluated now: a collective left lazy could start on one rank while its
        neighbour waits inside a ring exchange."""
        if self.size == 1:
            return x
        summed = mx.distributed.all_sum(x, group=self.group)
        mx.eval(summed)
        return summed


# -- one rank of a distributed ring ----------------------------------------------------------------------

def key_tiles(k: list[mx.array]) -> list[slice]:
    """The positions of each tile of keys in its shard."""
    starts = itertools.accumulate((tile.shape[-2] for tile in k), initial=0)
    return [slice(start, stop) for start, stop in itertools.pairwise(starts)]


def attend_block(partials: list[Partial], q: mx.array, k: list[mx.array], v: list[mx.array], seen: Visibility,
                 rows: list[slice], shift: Shift) -> None:
    """One step of the forward: the tiles of queries (``rows`` of the scaled ``q``; their
    ``partials`` updated in place) attend the block ``k``/``v`` held now, one tile of keys at a time,
    while ``shift`` passes each tile on as it is used and puts the previous rank's in its slot."""
    for j, columns in enumerate(key_tiles(k)):
        pairs = seen.pairs(rows, columns)
        shift.start(j, alongside=len(pairs))
        attend_keys(partials, q, k[j], v[j], rows, pairs, alongside=shift.pop)
        shift.land(j)


def ring_attention(q: mx.array, k: mx.array, v: mx.array, *, length: int, causal: bool = True,
                   ring: Ring | None = None, block: int | None = None, fused: bool | None = None) -> mx.array:
    """Attention for this rank's striped shard: q, k, v are (batch, heads, local, head_dim), where
    local = ceil(length / ranks); ``length`` is the real (unpadded) sequence length.

    On a ring of one without padding, ``fused`` chooses the fused kernel (True), the blockwise path
    (False) or whichever is better for this size and device (None; see the module's docstring).
    ``block``: queries and keys per tile (default: :func:`~energy_core.ml.attention.block_for` the shard).
    """
    ring = ring or Ring()
    if ring.size == 1 and q.shape[-2] == length and (fused_is_better(q) if fused is None else fused):
        return fused_attention(q, k, v, causal=causal)
    scale = 1.0 / math.sqrt(q.shape[-1])
    block = block or block_for(q.shape[-2])
    rows = tiles(q.shape[-2], block)

    def seen(step: int) -> Visibility:
        return Visibility.striped(ring.rank, (ring.rank - step) % ring.size, ring.size, length, causal)

    @mx.custom_function
    def attend(q: mx.array, k: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        with ring.computing():
            qs, kb, vb = working_copies(q, k, v, block)
            partials = [Partial.empty(qs[..., r, :]) for r in rows]
            for step in range(ring.size):
                attend_block(partials, qs, kb, vb, seen(step), rows,
                             ring.shift(kb, vb) if step < ring.size - 1 else ring.shift())
            results = [p.result() for p in partials]
            return (mx.concatenate([o for o, _ in results], axis=-2),
                    mx.concatenate([s for _, s in results], axis=-1))

    def gradients_of_every_block(q: mx.array, k: mx.array, v: mx.array, d_out: mx.array, out: mx.array,
                                 lse: mx.array) -> tuple[list[mx.array], list[mx.array], list[mx.array]]:
        """This rank's query gradients (per tile of queries, unscaled) and the key/value gradients
        (tiles) of the block it attended last, one hop from home. The copies it works on go when it
        returns.

        At each step a rank holds one block and the gradients of one block, tile by tile in flight:
        a tile of keys and values leaves for the next rank once every tile of queries has seen it,
        and the previous rank's takes its slot; a tile of the gradients of the block held the step
        before leaves beside it, and the previous rank's gradients of the block held now arrive in
        its slot, to which this rank adds its own share.
        """
        qs, kb, vb = working_copies(q, k, v, block)
        d_out, out, lse = detached(d_out, out, lse)
        delta = mx.sum(d_out * out, axis=-1)
        dq = [mx.zeros_like(qs[..., r, :]) for r in rows]
        dk: list[mx.array] = []
        dv: list[mx.array] = []
        for step in range(ring.size):
            shift = ring.shift(*((kb, vb) if step < ring.size - 1 else ()), *((dk, dv) if step else ()))
            for j, columns in enumerate(key_tiles(kb)):
                pairs = seen(step).pairs(rows, columns)
                shift.start(j, alongside=len(pairs))
                mine = key_gradients(qs, kb[j], vb[j], d_out, lse, delta, rows, pairs, dq, alongside=shift.pop)
                shift.land(j)  # from step 1, dk[j] and dv[j] hold the previous ranks' share of this block's
                if step == 0:
                    dk.append(mine[0])
                    dv.append(mine[1])
                else:
                    dk[j], dv[j] = detached(dk[j] + mine[0], dv[j] + mine[1])
        return dq, dk, dv

    @attend.vjp
    def attend_vjp(primals: tuple[mx.array, mx.array, mx.array], cotangents: tuple[mx.array, mx.array],
                   outputs: tuple[mx.array, mx.array]) -> tuple[mx.array, mx.array, mx.array]:
        q, k, v = primals
        with ring.computing():
            dq, dk, dv = gradients_of_every_block(q, k, v, cotangents[0], *outputs)
            if ring.size > 1:  # the last hop brings every block's gradients home
                ring.shift(dk, dv).run()
            return ((mx.concatenate(dq, axis=-2) * scale).astype(q.dtype),
                    mx.concatenate(dk, axis=-2).astype(k.dtype), mx.concatenate(dv, axis=-2).astype(v.dtype))

    outputs = cast(tuple[mx.array, ...], attend(q, k, v))  # MLX types a custom_function's call as object
    return outputs[0].astype(q.dtype)


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


def simulated_ring_attention(q: mx.array, k: mx.array, v: mx.array, *, ranks: int, causal: bool = True,
                             block: int | None = None) -> mx.array:
    """Full-sequence attention computed the way a ring of ``ranks`` computes it, all in this process:
    at step ``t`` rank ``r`` attends the block of rank ``r - t``, and gradients reach each block in
    the order the ring adds them."""
    length = q.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    block = block or block_for(-(-length // ranks))
    rows = tiles(-(-length // ranks), block)

    def seen(rank: int, step: int) -> Visibility:
        return Visibility.striped(rank, (rank - step) % ranks, ranks, length, causal)

    @mx.custom_function
    def attend(q: mx.array, k: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        q_shards, k_shards, v_shards = (shard(t, ranks) for t in detached(q, k, v))
        qs = [x * scale for x in q_shards]
        ks, vs = [split(x, block) for x in k_shards], [split(x, block) for x in v_shards]
        partials = [[Partial.empty(x[..., r, :]) for r in rows] for x in qs]
        for step, rank in itertools.product(range(ranks), range(ranks)):
            source = (rank - step) % ranks
            for j, columns in enumerate(key_tiles(ks[source])):
                attend_keys(partials[rank], qs[rank], ks[source][j], vs[source][j], rows,
                            seen(rank, step).pairs(rows, columns))
        results = [[p.result() for p in mine] for mine in partials]
        out = [mx.concatenate([o for o, _ in mine], axis=-2) for mine in results]
        lse = [mx.concatenate([s for _, s in mine], axis=-1) for mine in results]
        return unshard(out, length), mx.stack(lse)

    @attend.vjp
    def attend_vjp(primals: tuple[mx.array, mx.array, mx.array], cotangents: tuple[mx.array, mx.array],
                   outputs: tuple[mx.array, mx.array]) -> tuple[mx.array, ...]:
        q, k, v = primals
        q_shards, k_shards, v_shards, d_out, out = (shard(t, ranks)
                                                    for t in detached(q, k, v, cotangents[0], outputs[0]))
        (lse,) = detached(outputs[1])
        qs = [x * scale for x in q_shards]
        ks, vs = [split(x, block) for x in k_shards], [split(x, block) for x in v_shards]
        delta = [mx.sum(d * o, axis=-1) for d, o in zip(d_out, out, strict=True)]
        dq = [[mx.zeros_like(x[..., r, :]) for r in rows] for x in qs]
        dk: list[list[mx.array]] = [[mx.zeros_like(t) for t in x] for x in ks]
        dv: list[list[mx.array]] = [[mx.zeros_like(t) for t in x] for x in vs]
        for step, rank in itertools.product(range(ranks), range(ranks)):
            source = (rank - step) % ranks
            for j, columns in enumerate(key_tiles(ks[source])):
                gk, gv = key_gradients(qs[rank], ks[source][j], vs[source][j], d_out[rank], lse[rank], delta[rank],
                                       rows, seen(rank, step).pairs(rows, columns), dq[rank])
                dk[source][j], dv[source][j] = dk[source][j] + gk, dv[source][j] + gv
        grads = ([mx.concatenate(g, axis=-2) * scale for g in dq], [mx.concatenate(g, axis=-2) for g in dk],
                 [mx.concatenate(g, axis=-2) for g in dv])
        return tuple(unshard(g, length).astype(t.dtype) for g, t in zip(grads, (q, k, v), strict=True))

    outputs = cast(tuple[mx.array, ...], attend(q, k, v))  # MLX types a custom_function's call as object
    return outputs[0].astype(q.dtype)


def naive_attention(q: mx.array, k: mx.array, v: mx.array, *, causal: bool = True) -> mx.array:
    """Plain softmax attention, the reference the ring must equal."""
    length = q.shape[-2]
    s = (q @ k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        s = mx.where(mx.tril(mx.ones((length, length), dtype=mx.bool_)), s, NEG_INF)
    return mx.softmax(s, axis=-1) @ v
