"""Run a command under ``mlx.launch`` on local processes, and never leave a worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def launch(args: list[str], *, processes: int = 2, timeout: float = 240,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    environ = {**os.environ, **(env or {}), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bindir / "mlx.launch"), "--backend", "ring", "-n", str(processes), "python", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and every rank it started
            stdout, stderr = process.communicate()
            raise AssertionError(f"mlx.launch timed out after {timeout} s:\n{stdout}\n{stderr}") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
