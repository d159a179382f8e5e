"""Exact ring attention in MLX.

The sequence is split across a ring of ranks with *striped* sharding (token ``t`` lives on rank
``t % n``), so under a causal mask every rank has the same amount of work instead of the first rank
idling. Each rank keeps its queries; key/value blocks travel to the next rank, one hop per step, and
each rank attends them tile by tile (:mod:`energy_core.ml.attention`): tiles the causal mask hides
are skipped, partial results merge by online softmax in float32, so the output equals full softmax
attention. The backward pass recomputes each tile (as FlashAttention does) and sends the key/value
gradients around the ring back to their owners, so memory stays flat.

Exchange overlaps compute: a rank starts sending its current block and receiving the next one
before it attends the current one. Communication runs on the stream MLX gives the group's backend,
the tiles on a stream of their own, and every exchange is issued in the same order on every rank.

A ring of one on one process calls the fused kernel (``mx.fast.scaled_dot_product_attention``)
unless its score matrix would be large on the CPU, where the blockwise path is faster and lean
(:func:`energy_core.ml.attention.fused_is_better`).

Two drivers share the tile arithmetic: :func:`ring_attention` runs on one rank of an
``mx.distributed`` group (or a ring of one), :func:`simulated_ring_attention` runs every rank of a
ring inside one process, for tests.
"""

from __future__ import annotations

import math
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from typing import cast

import mlx.core as mx

from energy_core.ml.attention import (
    NEG_INF,
    Partial,
    Visibility,
    block_for,
    detached,
    fused_attention,
    fused_is_better,
    split,
    tile_gradients,
    tiles,
    working_copies,
)


class Exchange:
    """Arrays (lists of tiles, all tiled alike) to the next rank, and the previous rank's in their
    place, one message a tile.

    ``mx.async_eval`` is not allowed inside ``mx.grad``, so an exchange moves while the caller
    computes this way: the caller evaluates each tile of its work together with the next operations
    of :meth:`pop` (sends and receives, in an order every rank shares), and MLX runs them on their
    own streams at once. :meth:`result` finishes what is left. Even ranks send each message before
    receiving one and odd ranks the other way round, so no two neighbours wait on each other.
    """

    def __init__(self, ring: Ring, arrays: tuple[list[mx.array], ...], alongside: int) -> None:
        """``alongside``: how many times the caller will :meth:`pop` beside its tiles; the messages
        are spread evenly over them."""
        nxt, prv = (ring.rank + 1) % ring.size, (ring.rank - 1) % ring.size
        self._pending: deque[mx.array] = deque()
        self._received: tuple[list[mx.array], ...] = tuple([] for _ in arrays)
        self._result: tuple[list[mx.array], ...] | None = None
        for array, received in zip(arrays, self._received, strict=True):
            for tile in array:
                message = mx.contiguous(tile)
                with ring.communicating():
                    sent = mx.distributed.send(message, nxt, group=ring.group)
                    received.append(mx.distributed.recv_like(message, prv, group=ring.group))
                self._pending.extend((sent, received[-1]) if ring.rank % 2 == 0 else (received[-1], sent))
        self._per_pop = -(-len(self._pending) // max(1, alongside))

    def pop(self) -> list[mx.array]:
        """The next sends and receives to evaluate, alongside a tile of work (none once all are done)."""
        return [self._pending.popleft() for _ in range(min(self._per_pop, len(self._pending)))]

    def result(self) -> tuple[list[mx.array], ...]:
        """The previous rank's arrays, tiled as ours were, once every message has arrived and ours
        have left: the tiles as they came, nothing joined or copied, so a rank holds the block it
        attends and the one arriving, and no more."""
        if self._result is None:
            while self._pending:
                mx.eval(self._pending.popleft())
            self._result, self._received = self._received, ()
        return self._result


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

    def start_shift(self, *arrays: list[mx.array], alongside: int = 1) -> Exchange:
        """Start sending ``arrays`` (lists of tiles, all tiled alike) to the next rank and receiving the
        previous rank's, one message a tile, spread over the caller's ``alongside`` pops (see
        :class:`Exchange`)."""
        return Exchange(self, arrays, alongside)

    def all_sum(self, x: mx.array) -> mx.array:
        """Sum over ranks, evaluated now: a collective left lazy could start on one rank while its
        neighbour waits inside a ring exchange."""
        if self.size == 1:
            return x
        summed = mx.distributed.all_sum(x, group=self.group)
        mx.eval(summed)
        return summed


# -- one rank of a distributed ring ----------------------------------------------------------------------

def attend_block(partials: list[Partial], q: mx.array, k: list[mx.array], v: list[mx.array], seen: Visibility,
                 rows: list[slice], block: int, exchange: Exchange | None = None) -> list[Partial]:
    """One step of the forward: every tile of queries (``rows`` of the scaled ``q``) attends the
    block ``k``/``v`` held now, while ``exchange`` (the next block) moves alongside, a share of its
    messages beside each tile of queries."""
    return [p.attend(q[..., r, :], k, v, seen, r, block, alongside=exchange.pop() if exchange else None)
            for p, r in zip(partials, rows, strict=True)]


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
                coming = ring.start_shift(kb, vb, alongside=len(rows)) if step < ring.size - 1 else None
                partials = attend_block(partials, qs, kb, vb, seen(step), rows, block, coming)
                if coming is not None:
                    kb, vb = coming.result()
            results = [p.result() for p in partials]
            return (mx.concatenate([o for o, _ in results], axis=-2),
                    mx.concatenate([s for _, s in results], axis=-1))

    def gradients_of_every_block(q: mx.array, k: mx.array, v: mx.array, d_out: mx.array, out: mx.array,
                                 lse: mx.array) -> tuple[list[mx.array], tuple[list[mx.array], ...]]:
        """This rank's query gradients (per tile of queries, unscaled) and the key/value gradients of
        the block it attended last, one hop from home. The copies it works on go when it returns."""
        qs, kb, vb = working_copies(q, k, v, block)
        d_out, out, lse = detached(d_out, out, lse)
        delta = mx.sum(d_out * out, axis=-1)
        dq = [mx.zeros_like(qs[..., r, :]) for r in rows]

        def backward_step(step: int, kb: list[mx.array], vb: list[mx.array], finished: tuple[list[mx.array], ...]
                          ) -> tuple[list[mx.array], list[mx.array], tuple[list[mx.array], ...]]:
            """The gradients of the block ``kb``/``vb`` from every tile of queries while one message moves
            on: the block the next rank attends next, and ``finished``, the gradients of the block held
            last step (the next rank adds its share and passes them on). Returns the next block and the
            gradients to pass on; the rest of what the step made goes before the next step's tiles."""
            outgoing = ((kb, vb) if step < ring.size - 1 else ()) + finished
            exchange = ring.start_shift(*outgoing, alongside=len(rows)) if outgoing else None
            dk, dv = tile_gradients(qs, kb, vb, d_out, lse, delta, seen(step), block, dq,
                                    alongside=exchange.pop if exchange else list)
            received = exchange.result() if exchange else ()
            if step < ring.size - 1:
                (kb, vb), received = received[:2], received[2:]
            if not received:
                return kb, vb, (dk, dv)
            return kb, vb, tuple([*detached(*(a + b for a, b in zip(mine, theirs, strict=True)))]
                                 for mine, theirs in zip((dk, dv), received, strict=True))

        finished: tuple[list[mx.array], ...] = ()
        for step in range(ring.size):
            kb, vb, finished = backward_step(step, kb, vb, finished)
        return dq, finished

    @attend.vjp
    def attend_vjp(primals: tuple[mx.array, mx.array, mx.array], cotangents: tuple[mx.array, mx.array],
                   outputs: tuple[mx.array, mx.array]) -> tuple[mx.array, mx.array, mx.array]:
        q, k, v = primals
        with ring.computing():
            dq, finished = gradients_of_every_block(q, k, v, cotangents[0], *outputs)
            if ring.size > 1:  # the last hop brings every block's gradients home
                finished = ring.start_shift(*finished).result()
            dk, dv = (mx.concatenate(tiled, axis=-2) for tiled in finished)
            return (mx.concatenate(dq, axis=-2) * scale).astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)

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
        for step in range(ranks):
            for rank in range(ranks):
                source = (rank - step) % ranks
                for i, r in enumerate(rows):
                    partials[rank][i] = partials[rank][i].attend(qs[rank][..., r, :], ks[source], vs[source],
                                                                 seen(rank, step), r, block)
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
        for step in range(ranks):
            for rank in range(ranks):
                source = (rank - step) % ranks
                gk, gv = tile_gradients(qs[rank], ks[source], vs[source], d_out[rank], lse[rank], delta[rank],
                                        seen(rank, step), block, dq[rank])
                dk[source] = [a + b for a, b in zip(dk[source], gk, strict=True)]
                dv[source] = [a + b for a, b in zip(dv[source], gv, strict=True)]
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
