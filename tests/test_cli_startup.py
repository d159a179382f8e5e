"""The light commands stay light: what they import, checked in a child process (the time they take is
measured by ``benchmarks/cli_startup.py``, never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, child_env

DATA_LIBRARIES = {"polars", "httpx", "numpy", "pyarrow", "lancedb", "mlx", "duckdb", "matplotlib"}
FEATURE_ML_SQL_PLOT = {"lancedb", "mlx", "duckdb", "matplotlib"}


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    """The top-level packages in ``sys.modules`` once ``energy *args`` has finished."""
    out = tmp_path / "modules.json"
    code = ("import json, sys\nfrom energy_core.cli import main\n"
            f"try:\n    main({list(args)!r})\n"
            f"finally:\n    open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=child_env({"PYTHONPATH": str(ROOT)}))
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in json.loads(out.read_text())}


def test_help_imports_no_data_library(tmp_path):
    assert imported_by(tmp_path, "--help") & DATA_LIBRARIES == set()


def test_version_imports_no_data_library(tmp_path):
    assert imported_by(tmp_path, "--version") & DATA_LIBRARIES == set()


def test_plugins_imports_no_feature_store_model_sql_or_plotting_library(tmp_path):
    assert imported_by(tmp_path, "plugins") & FEATURE_ML_SQL_PLOT == set()


def test_status_of_an_empty_home_imports_no_data_library(tmp_path):
    assert imported_by(tmp_path, "status", "--home", str(tmp_path / "home")) & DATA_LIBRARIES == set()


def test_the_startup_benchmark_runs_every_command():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cli_startup.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300, env=child_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "energy status --home <with data>" in result.stdout
