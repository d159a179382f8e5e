"""Attention benchmark: time and peak memory per rank of one causal attention layer (1 sequence, 4 heads
of 64, float32), forward and forward + backward, for the blockwise ring at 2,048 to 8,760 tokens on
rings of 1, 2 and 4 (32,768 on a ring of 4), as ratios to ``mx.fast.scaled_dot_product_attention``
(SDPA) on one process; and, on rings of 2 and 4, how much of a step's exchange time moving it beside
the step's tiles hides.

    uv run python benchmarks/attention.py
    uv run python benchmarks/attention.py --smoke       # 256 tokens, every ring size; the tests run it
    uv run python benchmarks/attention.py --lengths 2048 --long-lengths   # one length, no 32,768 run

Rings of 2 and 4 are real processes on the ring backend over 127.0.0.1, started as ``mlx.launch`` starts
them (``--backend nccl``: under ``mlx.launch``, across CUDA GPUs). On a Mac (``pip install mlx``) or a
CUDA machine (``pip install "mlx[cuda]"``) the same command runs on the GPU: there SDPA is a fused
kernel, which a ring of one uses at every length. ``--rows FILE`` keeps every measured row, so rings
can run one at a time (``--rings 4``) and ``--report-only`` tables them together.

energy loads OpenBLAS for MLX on Linux (see ``energy_core.blas``). Ranks on one machine share its
cores, so a ring's time shows the algorithm's cost, not a speed-up; memory per rank is the point.
Every run checks that each rank reported and that each rank's output equals plain attention at up to
128 of its query positions (within 1e-4); it exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LENGTHS = (2048, 4096, 8760)
LONG_LENGTHS = (32768,)
"""Run on a ring of 4 only: SDPA would hold 16 GiB of scores forward, 48 GiB forward + backward."""
SMOKE_LENGTHS = (256,)
RINGS = (1, 2, 4)
HEADS, HEAD_DIM = 4, 64
TOLERANCE = 1e-4
CHECKED_ROWS = 128


def cpu_seconds() -> float:
    """This process's CPU time, every thread's (OpenBLAS's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(ring, fn: Callable[[], object], repeats: int) -> tuple[float, float, int, object]:
    """The best of ``repeats`` wall times and of CPU times of evaluating ``fn()`` (every rank starting
    together), the highest MLX peak memory, and the last result. On a shared machine the CPU time
    is the steadier of the two: other jobs lengthen the wall time, not the work."""
    import mlx.core as mx

    wall, cpu, peak, result = float("inf"), float("inf"), 0, None
    for _ in range(repeats):
        ring.all_sum(mx.zeros(1))  # a barrier
        mx.reset_peak_memory()
        started, used = time.perf_counter(), cpu_seconds()
        result = fn()
        mx.eval(result)
        wall, cpu = min(wall, time.perf_counter() - started), min(cpu, cpu_seconds() - used)
        peak = max(peak, mx.get_peak_memory())
    return wall, cpu, peak, result


def inputs(length: int, ranks: int, rank: int):
    import mlx.core as mx

    from energy_core.ml.ring import shard

    mx.random.seed(0)
    full = [mx.random.normal((1, HEADS, length, HEAD_DIM)) for _ in range(4)]
    local = [mx.contiguous(shard(t, ranks)[rank]) for t in full]  # not a view: the full arrays can go
    mx.eval(*local)
    return full, local


def one_step(ring, q, k, v, length: int, repeats: int) -> dict[str, float]:
    """Seconds of one ring step of the forward, as ``ring_attention`` runs it (every tile of this
    rank's queries against the block it holds, the previous rank's, one tile of keys at a time): the
    block's exchange alone (tile by tile), the tiles alone, and the two together, each tile of keys
    passed on beside its tiles of work; best of ``repeats``, each after a barrier so that the ranks
    start together."""
    import mlx.core as mx

    from energy_core.ml.attention import Partial, Visibility, block_for, tiles, working_copies
    from energy_core.ml.ring import attend_block

    block = block_for(q.shape[-2])
    qs, kb, vb = working_copies(q, k, v, block)
    rows = tiles(qs.shape[-2], block)
    seen = Visibility.striped(ring.rank, (ring.rank - 1) % ring.size, ring.size, length, causal=True)

    def tiles_alone() -> None:
        with ring.computing():
            attend_block([Partial.empty(qs[..., r, :]) for r in rows], qs, kb, vb, seen, rows, ring.shift())

    def exchange_alone() -> None:
        with ring.computing():
            ring.shift(kb, vb).run()

    def together() -> None:
        with ring.computing():
            attend_block([Partial.empty(qs[..., r, :]) for r in rows], qs, kb, vb, seen, rows, ring.shift(kb, vb))

    seconds = {}
    for name, fn in (("exchange", exchange_alone), ("tiles", tiles_alone), ("together", together)):
        best = float("inf")
        for _ in range(repeats):
            ring.all_sum(mx.zeros(1))
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
        seconds[f"step_{name}"] = best
    return seconds


def difference_from_plain(out, length: int, ranks: int, rank: int) -> float:
    """The largest difference between this rank's output and plain causal attention, at up to
    :data:`CHECKED_ROWS` of its real query positions (plain attention of all of them would not fit)."""
    import mlx.core as mx

    full, _ = inputs(length, ranks, rank)
    q, k, v = full[:3]
    real = len(range(rank, length, ranks))
    rows = mx.array(sorted({round(i * (real - 1) / max(CHECKED_ROWS - 1, 1)) for i in range(CHECKED_ROWS)}))
    positions = rows * ranks + rank
    scores = (q[:, :, positions] @ k.swapaxes(-1, -2)) * HEAD_DIM ** -0.5
    scores = mx.where(mx.arange(length)[None, :] <= positions[:, None], scores, float("-inf"))
    expected = mx.softmax(scores, axis=-1) @ v
    return mx.abs(out[:, :, rows] - expected).max().item()


def measure_length(ring, length: int, repeats: int, long: bool) -> list[dict]:
    """This rank's figures at ``length``: the blockwise ring forward and forward + backward; unless the
    length is a long one, on a ring of one SDPA too, on larger rings one step's overlap."""
    import mlx.core as mx

    from energy_core.ml.ring import Ring, ring_attention

    full, (q, k, v, w) = inputs(length, ring.size, ring.rank)
    del full  # a rank holds only its shard

    def loss_and_gradients(attention: Callable[..., mx.array]) -> tuple[mx.array, ...]:
        step = mx.value_and_grad(lambda q, k, v: (attention(q, k, v) * w).sum(), argnums=(0, 1, 2))
        loss, grads = step(q, k, v)
        return (loss, *grads)

    def blockwise(r: Ring) -> Callable[..., mx.array]:
        return lambda q, k, v: ring_attention(q, k, v, length=length, ring=r, fused=False)

    def sdpa(q: mx.array, k: mx.array, v: mx.array) -> mx.array:
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=HEAD_DIM ** -0.5, mask="causal")

    row: dict[str, object] = {"kind": f"ring of {ring.size}", "length": length, "rank": ring.rank}
    row["forward_seconds"], row["forward_cpu"], row["forward_peak"], out = measure(
        ring, lambda: blockwise(ring)(q, k, v), repeats)
    row["seconds"], row["cpu"], row["peak"], _ = measure(ring, lambda: loss_and_gradients(blockwise(ring)), repeats)
    if ring.size > 1 and not long:
        row.update(one_step(ring, q, k, v, length, max(repeats, 3)))
    row["difference"] = difference_from_plain(out, length, ring.size, ring.rank)
    rows = [row]
    if ring.size == 1 and not long:
        fused: dict[str, object] = {"kind": "SDPA", "length": length, "rank": 0}
        fused["forward_seconds"], fused["forward_cpu"], fused["forward_peak"], _ = measure(
            ring, lambda: sdpa(q, k, v), repeats)
        fused["seconds"], fused["cpu"], fused["peak"], _ = measure(ring, lambda: loss_and_gradients(sdpa), repeats)
        rows.append(fused)
    return rows


def worker(lengths: list[int], long_lengths: list[int], repeats: int, backend: str) -> None:
    import mlx.core as mx

    from energy_core.ml.ring import Ring

    group = mx.distributed.init(strict=True, backend=backend) if os.environ.get("MLX_RANK") else None
    ring = Ring(group)
    for length in [*lengths, *long_lengths]:
        for row in measure_length(ring, length, repeats, long=length in long_lengths):
            print(json.dumps(row), flush=True)


def run_ring(ranks: int, lengths: list[int], long_lengths: list[int], repeats: int, backend: str) -> list[dict]:
    """Every rank's rows. Ring-backend ranks are started the way ``mlx.launch`` starts them (each with
    its ``MLX_RANK`` and one hostfile of 127.0.0.1 ports) but without the launcher, whose output loop
    polls without sleeping: it burned more CPU than a rank, which 2 cores would charge to the ranks."""
    from energy_core.testing import loopback_hostfile

    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, __file__, "--worker", "--repeats", str(repeats), "--backend", backend,
               "--lengths", *map(str, lengths), "--long-lengths", *map(str, long_lengths)]
    with tempfile.TemporaryDirectory() as folder:
        if ranks == 1:
            launches = [(command, env)]
        elif backend == "ring":
            hostfile = loopback_hostfile(Path(folder) / "hostfile.json", ranks)
            launches = [(command, {**env, "MLX_RANK": str(rank), "MLX_HOSTFILE": str(hostfile)})
                        for rank in range(ranks)]
        else:
            launches = [([str(bindir / "mlx.launch"), "--backend", backend, "-n", str(ranks), "--", "python",
                          *command[1:]], env)]
        processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
                     for c, e in launches]
        try:
            outputs = [p.communicate(timeout=6 * 3600) for p in processes]
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
    for p, (stdout, stderr) in zip(processes, outputs, strict=True):
        if p.returncode != 0 or "Traceback" in stderr:
            sys.exit(f"the ring of {ranks} failed:\n{stdout}\n{stderr}")
    return [json.loads(line) for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("{")]


def slowest(rows: list[dict], kind: str, length: int) -> dict | None:
    """The ring's figures at ``length``: each one the largest over its ranks."""
    mine = [r for r in rows if r["kind"] == kind and r["length"] == length]
    if not mine:
        return None
    return {key: max(r[key] for r in mine) for key in mine[0] if isinstance(mine[0][key], float | int)}


def ratio(value: float, reference: dict | None, key: str) -> str:
    return f"{value / reference[key]:.2f}" if reference else "n/a"


def report(rows: list[dict], lengths: list[int], long_lengths: list[int]) -> None:
    import mlx.core as mx

    from energy_core.blas import blas_in_use

    mib = 2 ** 20
    print(f"causal attention, 1 x {HEADS} heads x {HEAD_DIM}, float32, {mx.default_device()}, BLAS: {blas_in_use()}")
    print("| path | length | forward s | x SDPA | CPU s | x SDPA | fwd + bwd s | x SDPA | CPU s | x SDPA | "
          "forward peak per rank | x SDPA | fwd + bwd peak per rank | x SDPA |\n" + "|---" * 14 + "|")
    for kind in ("SDPA", *(f"ring of {n}" for n in RINGS)):
        for length in sorted({*lengths, *long_lengths}):
            figures = slowest(rows, kind, length)
            if figures is None:
                continue
            sdpa = slowest(rows, "SDPA", length)
            cells = [f"{figures[key]:.2f} | {ratio(figures[key], sdpa, key)}"
                     for key in ("forward_seconds", "forward_cpu", "seconds", "cpu")]
            cells += [f"{figures[key] / mib:,.0f} MiB | {ratio(figures[key], sdpa, key)}"
                      for key in ("forward_peak", "peak")]
            print(f"| {kind} | {length:,} | " + " | ".join(cells) + " |")
    print("\none step of the forward (slowest rank): the block's exchange alone, its tiles alone, and both as "
          "ring attention runs them (each tile of keys passed on beside the tiles of queries that use it)\n"
          "| ring | length | exchange ms | tiles ms | together ms | together - tiles ms |\n" + "|---" * 6 + "|")
    for ranks in RINGS[1:]:
        for length in sorted({*lengths, *long_lengths}):
            figures = slowest(rows, f"ring of {ranks}", length)
            if figures is None or "step_together" not in figures:
                continue
            exchange, alone, together = (figures[f"step_{k}"] * 1e3 for k in ("exchange", "tiles", "together"))
            print(f"| {ranks} | {length:,} | {exchange:.0f} | {alone:.0f} | {together:.0f} | {together - alone:+.0f} |")


def failures(rows: list[dict], rings: list[int], lengths: list[int], long_lengths: list[int]) -> list[str]:
    found = []
    for ranks in rings:
        for length in [*lengths, *(long_lengths if ranks == 4 else [])]:
            reported = sorted(r["rank"] for r in rows if r["kind"] == f"ring of {ranks}" and r["length"] == length)
            if reported != list(range(ranks)):
                found.append(f"ring of {ranks} at {length} tokens: ranks {reported} reported, not all {ranks}")
    for length in lengths if 1 in rings else []:
        if not any(r["kind"] == "SDPA" and r["length"] == length for r in rows):
            found.append(f"no SDPA result at {length} tokens")
    found += [f"{r['kind']} at {r['length']} tokens, rank {r['rank']}: output differs from plain attention by "
              f"{r['difference']:.1e}" for r in rows if r.get("difference", 0.0) > TOLERANCE]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--long-lengths", type=int, nargs="*", default=list(LONG_LENGTHS),
                        help="lengths run on a ring of 4 only (none: skip)")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per figure")
    parser.add_argument("--backend", default="ring", help="mlx.launch backend for rings of 2 and 4 (ring, nccl)")
    parser.add_argument("--rings", type=int, nargs="+", default=list(RINGS), choices=RINGS, help="ring sizes to run")
    parser.add_argument("--smoke", action="store_true", help=f"lengths {SMOKE_LENGTHS} only, every ring size")
    parser.add_argument("--rows", type=Path, help="also append every measured row to this file (JSON lines)")
    parser.add_argument("--report-only", action="store_true", help="measure nothing: report the rows of --rows")
    args = parser.parse_args()
    import energy_core.ml  # noqa: F401  (loads OpenBLAS before anything imports MLX)

    if args.smoke:
        args.lengths, args.long_lengths = list(SMOKE_LENGTHS), []
    if args.worker:
        worker(args.lengths, args.long_lengths, args.repeats, args.backend)
        return
    rows = []
    if args.report_only:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines()]
    else:
        for ranks in args.rings:
            measured = run_ring(ranks, args.lengths, args.long_lengths if ranks == 4 else [], args.repeats,
                                args.backend)
            if args.rows:
                with args.rows.open("a") as saved:
                    saved.writelines(json.dumps(row) + "\n" for row in measured)
            rows += measured
    report(rows, args.lengths, args.long_lengths)
    if found := failures(rows, args.rings, args.lengths, args.long_lengths):
        sys.exit("checks failed:\n" + "\n".join(found))
    print(f"checks passed: every rank reported; every ring's output is within {TOLERANCE:g} of plain attention "
          f"(largest difference {max(r['difference'] for r in rows if 'difference' in r):.1e})")


if __name__ == "__main__":
    main()
