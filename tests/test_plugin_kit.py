"""A third party's view: the example plugin installs with pip into a fresh environment next to
energy-core, shows up in ``energy plugins``, runs through ``energy run`` (which builds its entity's
features too) and passes its own tests (which use energy's conformance kit)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "energy-example-plugin"


def sh(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=cwd,
                            env={k: v for k, v in {**os.environ, **(env or {})}.items()
                                 if not k.startswith(("EIA_", "ENERGY_", "UV_PROJECT"))})
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_example_plugin_installs_into_a_fresh_environment_and_runs_through_the_cli(tmp_path):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (CI runs the suite through uv, so it is there)")
    venv = tmp_path / "venv"
    requirements = tmp_path / "requirements.txt"
    # energy-core's locked dependencies (and pytest), then energy-core and the plugin from their folders
    sh(uv, "export", "--frozen", "--no-emit-workspace", "--group", "dev", "--no-hashes", "-q", "-o", str(requirements))
    sh(uv, "venv", "-q", str(venv), "--python", sys.executable)
    inside = {"VIRTUAL_ENV": str(venv)}
    sh(uv, "pip", "install", "-q", "-r", str(requirements), env=inside)
    sh(uv, "pip", "install", "-q", "--no-deps", str(ROOT), str(PLUGIN), env=inside)

    bin_dir = venv / "bin"
    plugins = sh(str(bin_dir / "energy"), "plugins", cwd=tmp_path)
    assert '"sources": [\n      "example"\n    ]' in plugins.stdout
    ran = sh(str(bin_dir / "energy"), "run", "--source", "example", "--simulate", "--region", "PACW", "--start",
             "2024-01-01", "--end", "2024-01-31", "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert "1 of 1 windows ok" in ran.stdout and "example.intensity" in ran.stdout
    assert "PACW_carbon: build 1, 744 hours" in ran.stdout  # the plugin's own entity, not a built-in's
    tests = sh(str(bin_dir / "python"), "-m", "pytest", "-q", str(PLUGIN / "tests"), cwd=tmp_path)
    assert "3 passed" in tests.stdout
