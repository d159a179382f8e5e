"""Training step benchmark: how long a step of the default forecaster takes on the CPU, alone and with
other trainings beside it, with OpenBLAS on one thread (energy's default) and on one per core (OpenBLAS's
own default).

Each training runs in a fresh process with ``OPENBLAS_NUM_THREADS`` set (energy leaves a count the
user sets to OpenBLAS) and times ``--steps`` steps of ``value_and_grad`` + AdamW on random inputs of the
default model's sizes (12 features, 64 wide, 2 layers, 4 heads), after 5 steps of warm-up. It prints the
wall time a step takes and the user and system CPU time the process spends on it; with several
processes at once, the slowest one's.

    uv run python benchmarks/training_step.py                     # 168 and 672 hours, 1 and 2 processes
    uv run python benchmarks/training_step.py --lengths 168 --processes 1 2 3
    uv run python benchmarks/training_step.py --smoke             # tiny; tests/test_benchmarks.py runs it
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

FEATURES = 12
WARMUP = 5


def child(batch: int, length: int, steps: int) -> dict:
    """Time ``steps`` training steps in this process; what OpenBLAS was told and the per-step costs."""
    from energy_core.blas import load_openblas, openblas_threads

    load_openblas()  # before MLX is imported, as energy_core.ml does
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    from energy_core.ml.model import Forecaster, ModelConfig
    from energy_core.ml.train import masked_mse, masked_pinball

    mx.random.seed(0)
    model = Forecaster(ModelConfig(FEATURES))
    optimizer = optim.AdamW(learning_rate=1e-3)
    x, mask = mx.random.normal((batch, length, FEATURES)), mx.ones((batch, length, FEATURES))
    recent, target, observed = mx.random.normal((batch, 72)), mx.random.normal((batch, 24)), mx.ones((batch, 24))

    def loss_fn(model: Forecaster) -> mx.array:
        point, bands = model.forecast(x, mask, length=length, recent=recent)
        return masked_mse(point, target, observed) + masked_pinball(bands, target, observed)

    step = nn.value_and_grad(model, loss_fn)
    losses = []
    for i in range(WARMUP + steps):
        if i == WARMUP:
            started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        loss, grads = step(model)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        losses.append(loss.item())
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    return {"openblas_threads": openblas_threads(), "finite": all(map(math.isfinite, losses)),
            "wall_ms": 1e3 * wall / steps, "user_ms": 1e3 * (after.ru_utime - before.ru_utime) / steps,
            "sys_ms": 1e3 * (after.ru_stime - before.ru_stime) / steps}


def run(threads: int, processes: int, batch: int, length: int, steps: int) -> list[dict]:
    """``processes`` trainings at once, each with ``OPENBLAS_NUM_THREADS=threads``; their reports."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--child", str(batch), str(length), str(steps)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    reports = []
    for process in children:
        out, _ = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise SystemExit(f"a training process failed (exit {process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", nargs="+", type=int, default=[168, 672], help="Window lengths in hours.")
    parser.add_argument("--batch", type=int, default=8, help="Windows a step (training's default: 8).")
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2], help="Trainings at once.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="72 hours, 2 windows, 3 steps.")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.smoke:
        args.lengths, args.batch, args.steps = [72], 2, 3
    cores = os.cpu_count() or 1
    print("| OpenBLAS threads | length | processes | step ms (slowest) | user ms | system ms |")
    print("|---|---|---|---|---|---|")
    problems = []
    for length in args.lengths:
        for processes in args.processes:
            for threads in sorted({1, cores}):
                reports = run(threads, processes, args.batch, length, args.steps)
                told = {r["openblas_threads"] for r in reports}
                if told - {threads, None}:
                    problems.append(f"OpenBLAS ran {told} threads where {threads} were asked for")
                if not all(r["finite"] for r in reports):
                    problems.append(f"a loss was not finite at {length} hours")
                slowest = max(reports, key=lambda r: r["wall_ms"])
                print(f"| {threads} | {length} | {processes} | {slowest['wall_ms']:.1f} | {slowest['user_ms']:.1f} "
                      f"| {slowest['sys_ms']:.1f} |", flush=True)
    if problems:
        raise SystemExit("; ".join(problems))
    print("checks passed: every training ran the OpenBLAS threads it was given, with finite losses")


if __name__ == "__main__":
    main()
