"""Attention benchmark: forward + backward time and peak memory per rank of one causal attention
layer (1 sequence, 4 heads of 64) at 2,048 to 8,760 tokens, for ring sizes 1, 2 and 4 (real
processes under ``mlx.launch``), with ``mx.fast.scaled_dot_product_attention`` in the ring-of-1 run.

    uv run python benchmarks/attention.py
    uv run python benchmarks/attention.py --smoke     # 256 tokens, every ring size; the tests run it
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 uv run python benchmarks/attention.py   # faster matmuls

MLX's Linux CPU wheel ships a reference BLAS; see ../shared/MLX_ON_LINUX.md. On one machine the ranks
share its cores, so ring time shows the cost of the algorithm, not a speed-up; memory per rank is the
point: it falls as the ring grows. Every run checks that each rank reported, and that each rank's output
equals the same positions of fused attention (max difference below 1e-4); it exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

LENGTHS = (2048, 4096, 8760)
SMOKE_LENGTHS = (256,)
RINGS = (1, 2, 4)
HEADS, HEAD_DIM = 4, 64
TOLERANCE = 1e-4


def measure(fn, *inputs) -> tuple[float, int]:
    import mlx.core as mx

    weights = mx.random.normal(inputs[0].shape, key=mx.random.key(1))
    step = mx.value_and_grad(lambda q, k, v: (fn(q, k, v) * weights).sum(), argnums=(0, 1, 2))
    mx.eval(*inputs, weights)
    mx.reset_peak_memory()
    started = time.perf_counter()
    loss, grads = step(*inputs)
    mx.eval(loss, grads)
    return time.perf_counter() - started, mx.get_peak_memory()


def forward_peak(fn, *inputs) -> int:
    import mlx.core as mx

    mx.eval(*inputs)
    mx.reset_peak_memory()
    mx.eval(fn(*inputs))
    return mx.get_peak_memory()


def difference_from_fused(out, length: int, ring) -> float:
    """The largest difference between this rank's output and fused attention at the same positions,
    on the inputs the worker drew (seed 0); padding positions are left out."""
    import mlx.core as mx

    from energy_core.ml.ring import shard

    mx.random.seed(0)
    full = [mx.random.normal((1, HEADS, length, HEAD_DIM)) for _ in range(3)]
    fused = mx.fast.scaled_dot_product_attention(*full, scale=HEAD_DIM ** -0.5, mask="causal")
    reference = shard(fused, ring.size)[ring.rank]
    real = len(range(ring.rank, length, ring.size))
    return mx.abs(out[..., :real, :] - reference[..., :real, :]).max().item()


def worker(lengths: tuple[int, ...]) -> None:
    import mlx.core as mx

    from energy_core.ml.ring import Ring, ring_attention, shard

    group = mx.distributed.init(strict=True, backend="ring") if os.environ.get("MLX_RANK") else None
    ring = Ring(group)
    for length in lengths:
        mx.random.seed(0)
        full = [mx.random.normal((1, HEADS, length, HEAD_DIM)) for _ in range(3)]
        local = [shard(t, ring.size)[ring.rank] for t in full]
        if ring.size > 1:
            del full
        ring_fn = lambda q, k, v, n=length: ring_attention(q, k, v, length=n, ring=ring)  # noqa: E731
        forward = forward_peak(ring_fn, *local)
        seconds, peak = measure(ring_fn, *local)
        result = {"kind": f"ring of {ring.size}", "length": length, "rank": ring.rank, "seconds": seconds,
                  "peak_bytes": peak, "forward_peak_bytes": forward,
                  "difference": difference_from_fused(ring_fn(*local), length, ring)}
        print(json.dumps(result), flush=True)
        if ring.size == 1:
            sdpa = lambda q, k, v: mx.fast.scaled_dot_product_attention(  # noqa: E731
                q, k, v, scale=HEAD_DIM ** -0.5, mask="causal")
            forward = forward_peak(sdpa, *full)
            seconds, peak = measure(sdpa, *full)
            print(json.dumps({"kind": "mx.fast.sdpa", "length": length, "rank": 0, "seconds": seconds,
                              "peak_bytes": peak, "forward_peak_bytes": forward}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--smoke", action="store_true", help=f"lengths {SMOKE_LENGTHS} only, every ring size")
    args = parser.parse_args()
    if args.smoke:
        args.lengths = list(SMOKE_LENGTHS)
    if args.worker:
        worker(tuple(args.lengths))
        return
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    rows = []
    for ranks in RINGS:
        command = [sys.executable, __file__, "--worker", "--lengths", *map(str, args.lengths)]
        if ranks > 1:
            command = [str(bindir / "mlx.launch"), "--backend", "ring", "-n", str(ranks), "python", *command[1:]]
        out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
        if out.returncode != 0:
            sys.exit(f"the ring of {ranks} failed:\n{out.stderr}")
        rows += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    blas = "OpenBLAS (LD_PRELOAD)" if "openblas" in os.environ.get("LD_PRELOAD", "") else "MLX's reference BLAS"
    print(f"causal attention, 1 x {HEADS} heads x {HEAD_DIM}, forward + backward, {blas}")
    print("| kind | length | forward + backward seconds (slowest rank) | forward + backward peak per rank | "
          "forward-only peak per rank |\n|---|---|---|---|---|")
    for kind in ("mx.fast.sdpa", "ring of 1", "ring of 2", "ring of 4"):
        for length in args.lengths:
            mine = [r for r in rows if r["kind"] == kind and r["length"] == length]
            if mine:
                print(f"| {kind} | {length:,} | {max(r['seconds'] for r in mine):.2f} | "
                      f"{max(r['peak_bytes'] for r in mine) / 2**20:,.0f} MiB | "
                      f"{max(r['forward_peak_bytes'] for r in mine) / 2**20:,.0f} MiB |")

    if found := failures(rows, args.lengths):
        sys.exit("checks failed:\n" + "\n".join(found))
    print(f"checks passed: every rank reported; every ring's output is within {TOLERANCE:g} of fused attention "
          f"(largest difference {max(r['difference'] for r in rows if 'difference' in r):.1e})")


def failures(rows: list[dict], lengths: list[int]) -> list[str]:
    found = []
    for length in lengths:
        for ranks in RINGS:
            reported = sorted(r["rank"] for r in rows if r["kind"] == f"ring of {ranks}" and r["length"] == length)
            if reported != list(range(ranks)):
                found.append(f"ring of {ranks} at {length} tokens: ranks {reported} reported, not all {ranks}")
        if not any(r["kind"] == "mx.fast.sdpa" and r["length"] == length for r in rows):
            found.append(f"no fused-attention result at {length} tokens")
    found += [f"{r['kind']} at {r['length']} tokens, rank {r['rank']}: output differs from fused attention by "
              f"{r['difference']:.1e}" for r in rows if r.get("difference", 0.0) > TOLERANCE]
    return found


if __name__ == "__main__":
    main()
