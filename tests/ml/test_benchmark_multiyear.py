"""The multi-year benchmark runs end to end: its smoke run (a planted series, nothing from outside the
repository) trains a tiny model on the last year and on all years and prints the comparison. Its
numbers are reported by ``benchmarks/multiyear.py``, never asserted here."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, child_env


def test_the_multiyear_benchmark_smoke_run_compares_both_spans():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "multiyear.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300, env=child_env(), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| ERCO | 2019 |" in result.stdout and "| ERCO | 2016-2019 |" in result.stdout
    assert "ERCO: at least as good with more data" in result.stdout, result.stdout
