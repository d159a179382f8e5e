"""Every benchmark keeps working: each one's smoke size runs here, in a child process, and must pass the
benchmark's own checks (rows, windows, outputs, replayed values). The times they print are never asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import ROOT, child_env

SMOKES = {  # script: what its smoke run prints once its checks have passed
    "ingest_eia.py": "checks passed: every path ended with the",
    "features_serving.py": "checks passed: every path served the same windows",
    "lake.py": "checks passed: every path stored the",
    "attention.py": "checks passed: every rank reported",
    "real_eia930.py": "demand hours equal the recorded year's",
    "fetch.py": "smoke checks passed: every row right, no 1-s span over the budget",
    "scale.py": "checks passed: every served row stored, counted by SQL, and every BA built",
    "serve.py": "checks passed: every answer whole, no error, no reader went back",
    "backtest.py": "checks passed: the model, LightGBM, the baselines and the BA's forecast were scored each month",
    "screening.py": "smoke checks passed: every published category reproduced as they ran it",
    "tracking.py": "checks passed: every mode trained to the same losses and every record holds each epoch and step",
    "monitor.py": "checks passed: the objectives held, the missing hours fired two incidents and they resolved",
    "training_step.py": "checks passed: every training ran the OpenBLAS threads it was given",
    "weather.py": "checks passed: the weather replayed as recorded, every variant scored the same hours",
}

OPTIONS = {"ingest_eia.py": ("--repeat", "2"), "backtest.py": ("--weather", "forecast")}
"""Options a smoke run takes too, so that their code runs in the suite."""


@pytest.mark.parametrize("script", sorted(SMOKES))
def test_the_smoke_run_passes_its_checks(script):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke", *OPTIONS.get(script, ())],
                            capture_output=True, text=True, timeout=600, env=child_env(), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert SMOKES[script] in result.stdout, result.stdout


def test_every_benchmark_has_a_smoke_run_in_the_suite():
    tests = [path.read_text() for path in (ROOT / "tests").rglob("test_*.py")]
    missing = [script.name for script in sorted((ROOT / "benchmarks").glob("*.py"))
               if not any(script.name in text and "--smoke" in text for text in tests)]
    assert missing == [], (f"benchmarks without a smoke run in the test suite: {missing}; give each a --smoke size "
                           "that runs in seconds and run it from a test")


def test_the_scale_benchmark_compares_two_commit_settings():
    """``scale.py --month-threads A B`` alternates two settings in one process; its smoke size must store
    every served row in both."""
    script = str(ROOT / "benchmarks" / "scale.py")
    command = [sys.executable, script, "--smoke", "--month-threads", "1", "4", "--pairs", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=child_env(), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks passed: every run of both settings stored every served row" in result.stdout, result.stdout
    assert "| smoke | 1 / 4 | 2 |" in result.stdout, result.stdout
