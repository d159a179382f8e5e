"""Run under mlx.launch: one causal attention layer's peak memory on this rank (forward, and forward +
backward), beside the same layer on one process holding every token; written as JSON to the folder
given (one file a rank: ranks share the launcher's output, where lines can interleave)."""

import json
import sys
from pathlib import Path

import mlx.core as mx

from energy_core.ml.attention import detached
from energy_core.ml.ring import Ring, ring_attention, shard

LENGTH = int(sys.argv[1])


def peak(attention, q, k, v, w, backward: bool) -> int:
    mx.eval(q, k, v, w)
    mx.reset_peak_memory()
    if backward:
        mx.eval(mx.value_and_grad(lambda q, k, v: (attention(q, k, v) * w).sum(), argnums=(0, 1, 2))(q, k, v))
    else:
        mx.eval(attention(q, k, v))
    return mx.get_peak_memory()


def inputs() -> list[mx.array]:
    mx.random.seed(0)
    return [mx.random.normal((1, 4, LENGTH, 64)) for _ in range(4)]


ring = Ring(mx.distributed.init(strict=True, backend="ring"))
mine = list(detached(*(shard(t, ring.size)[ring.rank] for t in inputs())))  # copies: the whole tensors go
report = {"rank": ring.rank}
for backward in (False, True):
    report["fwd+bwd" if backward else "fwd"] = peak(
        lambda q, k, v: ring_attention(q, k, v, length=LENGTH, ring=ring, fused=False), *mine, backward=backward)
del mine
if ring.rank == 0:
    for backward in (False, True):
        report["one process " + ("fwd+bwd" if backward else "fwd")] = peak(
            lambda q, k, v: ring_attention(q, k, v, length=LENGTH, ring=Ring(), fused=False), *inputs(),
            backward=backward)
(Path(sys.argv[2]) / f"rank{ring.rank}.json").write_text(json.dumps(report))
