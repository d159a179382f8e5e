"""The scale benchmark runs end to end: its smoke run (2 months of one BA, pages rendered into a
temporary folder and served from a loopback server) ingests, builds the entity, runs ``energy status``,
``energy quality`` and the SQL aggregate, and checks that every served row was stored and counted. The
times it measures are reported by ``benchmarks/scale.py``, never asserted here."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, child_env


def test_the_scale_benchmark_smoke_run_passes_its_checks():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300, env=child_env(), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| smoke | " in result.stdout
    assert "checks passed" in result.stdout
