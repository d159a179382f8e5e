"""Run a command under ``mlx.launch`` on local processes, and never leave a worker behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 right now. mlx.launch's ring backend
    listens on ``--starting-port`` and the ports after it, 32323 on by default: two launches at once
    (the suite's workers) would otherwise meet on the same ports."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            start = probe.getsockname()[1]
        try:
            with contextlib.ExitStack() as stack:
                for port in range(start, start + count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
        except OSError:
            continue
        return start


def launch(args: list[str], *, processes: int = 2, timeout: float = 240,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    environ = {**os.environ, **(env or {}), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bindir / "mlx.launch"), "--backend", "ring", "-n", str(processes),
               "--starting-port", str(free_ports(processes)), "python", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and every rank it started
            stdout, stderr = process.communicate()
            raise AssertionError(f"mlx.launch timed out after {timeout} s:\n{stdout}\n{stderr}") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
