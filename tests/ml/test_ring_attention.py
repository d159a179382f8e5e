"""Ring attention equals full attention, outputs within 1e-5 and gradients within 1e-4 (float32)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import pytest

from energy_core.ml.ring import Ring, naive_attention, ring_attention, simulated_ring_attention

from .launch import launch

LENGTHS = (16, 37, 61)  # 37 and 61 divide by none of 2, 3, 4: padding is exercised


def qkv(length: int, seed: int = 0):
    mx.random.seed(seed)
    return tuple(mx.random.normal((2, 3, length, 8)) for _ in range(3))


def gradients(fn, q, k, v):
    weights = mx.random.normal(q.shape, key=mx.random.key(7))
    return mx.grad(lambda q, k, v: (fn(q, k, v) * weights).sum(), argnums=(0, 1, 2))(q, k, v)


def biggest(a, b) -> float:
    return max(mx.abs(x - y).max().item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("length", LENGTHS)
def test_simulated_ring_equals_naive_and_fused_attention(ranks, causal, length):
    q, k, v = qkv(length)
    ring = simulated_ring_attention(q, k, v, ranks=ranks, causal=causal)
    naive = naive_attention(q, k, v, causal=causal)
    fused = mx.fast.scaled_dot_product_attention(q, k, v, scale=8 ** -0.5, mask="causal" if causal else None)
    assert mx.abs(ring - naive).max().item() < 1e-5
    assert mx.abs(ring - fused).max().item() < 1e-5
    ring_grads = gradients(lambda q, k, v: simulated_ring_attention(q, k, v, ranks=ranks, causal=causal), q, k, v)
    assert biggest(ring_grads, gradients(lambda q, k, v: naive_attention(q, k, v, causal=causal), q, k, v)) < 1e-4
    fused_fn = lambda q, k, v: mx.fast.scaled_dot_product_attention(  # noqa: E731
        q, k, v, scale=8 ** -0.5, mask="causal" if causal else None)
    assert biggest(ring_grads, gradients(fused_fn, q, k, v)) < 1e-4


def test_ring_of_one_runs_the_same_code_on_one_process():
    q, k, v = qkv(37)
    one = ring_attention(q, k, v, length=37, causal=True, ring=Ring())
    assert mx.abs(one - naive_attention(q, k, v, causal=True)).max().item() < 1e-5
    grads = gradients(lambda q, k, v: ring_attention(q, k, v, length=37, causal=True), q, k, v)
    assert biggest(grads, gradients(lambda q, k, v: naive_attention(q, k, v, causal=True), q, k, v)) < 1e-4


def test_more_ranks_than_tokens_leaves_whole_ranks_as_padding():
    q, k, v = qkv(3)
    out = simulated_ring_attention(q, k, v, ranks=4, causal=True)
    assert mx.abs(out - naive_attention(q, k, v, causal=True)).max().item() < 1e-5


def test_two_real_processes_under_mlx_launch():
    result = launch([str(Path(__file__).with_name("ring_worker.py"))])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("rank ")]
    assert len(lines) == 12 and {line.split()[1] for line in lines} == {"0/2", "1/2"}
