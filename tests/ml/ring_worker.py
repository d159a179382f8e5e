"""Run under mlx.launch: ring attention on this rank's shard must equal full attention, and its
gradients must equal this rank's shard of the full gradients, with one tile per shard and with many
(tiny tiles: the exchange then moves in chunks beside them)."""

import sys

import mlx.core as mx

from energy_core.ml.ring import Ring, naive_attention, ring_attention, shard

ring = Ring(mx.distributed.init(strict=True, backend="ring"))
failures = []
for block in (512, 4):
    for length in (32, 37, 50):
        for causal in (False, True):
            mx.random.seed(length)  # the same full tensors on every rank
            q, k, v, weights = (mx.random.normal((2, 2, length, 8)) for _ in range(4))
            mine = [shard(t, ring.size)[ring.rank] for t in (q, k, v, weights)]
            real = (mx.arange(mine[0].shape[-2]) * ring.size + ring.rank < length)[:, None]  # not padding

            def ring_loss(q, k, v, length=length, causal=causal, block=block, w=mine[3] * real):
                # each rank's loss covers its own queries; their sum is the full loss
                return (ring_attention(q, k, v, length=length, causal=causal, ring=ring, block=block) * w).sum()

            def full_loss(q, k, v, causal=causal, weights=weights):
                return (naive_attention(q, k, v, causal=causal) * weights).sum()

            out = ring_attention(*mine[:3], length=length, causal=causal, ring=ring, block=block)
            expected = shard(naive_attention(q, k, v, causal=causal), ring.size)[ring.rank]
            got = mx.grad(ring_loss, argnums=(0, 1, 2))(*mine[:3])
            want = [shard(g, ring.size)[ring.rank] for g in mx.grad(full_loss, argnums=(0, 1, 2))(q, k, v)]
            out_err = mx.abs((out - expected) * real).max().item()
            grad_err = max(mx.abs((g - w) * real).max().item() for g, w in zip(got, want, strict=True))
            print(f"rank {ring.rank}/{ring.size} block {block} length {length} causal {causal}: output {out_err:.1e}, "
                  f"gradients {grad_err:.1e}", flush=True)
            if out_err > 1e-5 or grad_err > 1e-4:
                failures.append((block, length, causal))
sys.exit(1 if failures else 0)
