"""The fetch benchmark runs end to end: its smoke run (a few days of 2 BAs against a fast simulator)
checks that every row arrives right and that no 1-second span exceeds the simulated budget. The times
it measures are reported by ``benchmarks/fetch.py``, never asserted here."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, child_env


def test_the_fetch_benchmark_smoke_run_passes_its_checks():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fetch.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300, env=child_env(), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| energy | " in result.stdout
    assert "| caiso | " in result.stdout
    assert "smoke checks passed" in result.stdout
