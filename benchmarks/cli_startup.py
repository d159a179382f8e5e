"""CLI startup benchmark: how long the light commands take, against an empty Python.

Each command runs in a fresh process, the way a user runs it, from a folder without an
``energy.toml`` and with no ``ENERGY_*`` or ``EIA_*`` variables; the median of ``--runs`` runs is
reported, with the CPU time the process used (steadier than the wall clock on a busy machine),
and how much it adds to ``python -c pass``:

  python -c pass                      the interpreter alone
  energy --help                       plugin loading and every command's options, no command run
  energy plugins                      the plugins' components imported and listed
  energy status --home <empty>        a home no run has written to
  energy status --home <with data>    a week of simulated EIA data for one BA

The home with data is written first by ``energy run --source eia --simulate`` (a few seconds).
The script exits non-zero if a command fails; ``--smoke`` runs each command once.

    uv run python benchmarks/cli_startup.py
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.3
"""What `energy --help`, `energy plugins` and `energy status` should start in."""
ENERGY = [sys.executable, "-m", "energy_core"]


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("EIA_", "ENERGY_"))}


def run(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds the command took; exits the script with its output if it failed."""
    cpu_before, started = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=300)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with exit code {result.returncode}:\n{result.stdout}{result.stderr}")
    return elapsed, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fill(home: Path, cwd: Path) -> None:
    run([*ENERGY, "run", "--source", "eia", "--simulate", "--region", "PACW", "--start", "2024-01-01",
         "--end", "2024-01-07", "--no-features", "--home", str(home)], cwd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="Runs per command (the median is reported).")
    parser.add_argument("--smoke", action="store_true", help="Run each command once: checks that all of them work.")
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs

    with tempfile.TemporaryDirectory() as tmp:
        cwd, empty, full = Path(tmp), Path(tmp) / "empty", Path(tmp) / "full"
        empty.mkdir()
        fill(full, cwd)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "energy --help": [*ENERGY, "--help"],
            "energy plugins": [*ENERGY, "plugins"],
            "energy status --home <empty>": [*ENERGY, "status", "--home", str(empty)],
            "energy status --home <with data>": [*ENERGY, "status", "--home", str(full)],
        }
        timings = {name: [run(command, cwd) for _ in range(runs)] for name, command in commands.items()}

    wall = {name: statistics.median(w for w, _ in times) for name, times in timings.items()}
    cpu = {name: statistics.median(c for _, c in times) for name, times in timings.items()}
    baseline = wall["python -c pass"]
    width = max(map(len, wall))
    print(f"{'command':<{width}}  median s  cpu s  over python -c pass  <= {TARGET_S} s   ({runs} run(s) each)")
    for name, seconds in wall.items():
        verdict = "" if name == "python -c pass" else "yes" if seconds <= TARGET_S else "no"
        print(f"{name:<{width}}  {seconds:8.3f}  {cpu[name]:5.2f}  {seconds - baseline:19.3f}  {verdict}")


if __name__ == "__main__":
    main()
