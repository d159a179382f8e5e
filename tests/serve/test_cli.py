"""``energy serve`` as a user runs it: it says where it listens, serves, stops cleanly on SIGTERM, and
explains what is missing."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from tests.processes import ROOT, child_env, energy

from .conftest import ENTITY, serve_command


def test_energy_serve_listens_where_it_says_and_stops_on_sigterm(home):
    with serve_command(home, "serve", "--no-access-log") as served:
        assert httpx.get(f"{served.url}/v1/forecast/{ENTITY}", timeout=60).status_code == 200
    assert served.process.returncode == -signal.SIGTERM  # after a graceful shutdown, uvicorn dies of the signal
    log = "".join(served.output)
    assert f"serving {home} at {served.url}/ (API docs at /docs)" in log
    assert "GET /v1/forecast" not in log  # --no-access-log
    assert "Application shutdown complete" in log and "Finished server process" in log


def test_a_missing_home_is_refused(tmp_path):
    result = energy("serve", "--home", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert f"error: no home at {tmp_path / 'nowhere'}: store data with `energy run` first" in result.stderr


@pytest.mark.parametrize("library", ["fastapi", "uvicorn", "prometheus_client"])
def test_without_the_serve_extra_it_says_which_to_install(tmp_path, library):
    code = (f"import sys\nsys.modules[{library!r}] = None\n"  # as after an install without the extra
            f"from energy_core.cli import main\nmain(['serve', '--home', {str(tmp_path)!r}])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env=child_env({"PYTHONPATH": str(ROOT)}))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: `energy serve` needs {library}, which is not installed: pip install "
                                     "'energy-core[serve]', or 'energy-core[all]' for every part")
