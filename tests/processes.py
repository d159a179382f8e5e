"""The ``energy`` command in a child process, the way users run it, with none of this machine's
EIA or energy settings leaking in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def energy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "energy_core", *args]


def child_env(extra: dict | None = None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("EIA_", "ENERGY_"))}
    return {**environ, **(extra or {})}


def energy(*args: str, home: Path | None = None, env: dict | None = None, cwd: Path = ROOT,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``energy *args`` (with ``ENERGY_HOME=home`` when given) and capture its output."""
    extra = {**(env or {}), **({"ENERGY_HOME": str(home)} if home is not None else {})}
    return subprocess.run(energy_command(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=child_env(extra))
