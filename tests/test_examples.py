"""Every script in examples/ runs, in order, against the simulators, the way the README shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPECTED = {
    "01_run_pipeline.py": "features PACW:",
    "02_read_store.py": "generation mix",
    "03_training_windows.py": "live context: (1, 168,",
    "04_train_tiny_model.py": "same hour yesterday",
    "05_forecast.py": "2024-04-01 23:00:00 UTC",
}


def test_every_example_runs_in_order_against_the_simulators(tmp_path):
    scripts = sorted(p.name for p in EXAMPLES.glob("[0-9]*.py"))
    assert scripts == sorted(EXPECTED), "a new example needs an expected line here"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EIA_", "ENERGY_"))}
    for script in scripts:
        result = subprocess.run([sys.executable, str(EXAMPLES / script), str(tmp_path / "home")], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, f"{script}:\n{result.stderr}"
        assert EXPECTED[script] in result.stdout, f"{script}:\n{result.stdout}"
    again = subprocess.run([sys.executable, str(EXAMPLES / "01_run_pipeline.py"), str(tmp_path / "home")],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert "0 rows new or changed" in again.stdout and "already stored" in again.stdout
