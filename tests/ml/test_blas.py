"""MLX multiplies matrices with OpenBLAS when the machine has one: energy loads it before MLX, with no
LD_PRELOAD; when there is none, one line says how to get it. Each case runs in a fresh child process,
since what serves ``cblas_sgemm`` is fixed when ``mlx.core`` is first imported."""

from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys

import pytest

from energy_core.blas import (
    THREAD_VARIABLES,
    THREADS,
    bundled_blas,
    load_global,
    openblas_candidates,
    slow_blas_warning,
)
from tests.processes import ROOT, child_env

REFERENCE = "/venv/site-packages/mlx_cpu.libs/libblas-bd8a282c.so.3.10.0"

SERVING_SGEMM = """
import ctypes, json

class Info(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p),
                ("saddr", ctypes.c_void_p)]

def serving():
    program, info = ctypes.CDLL(None), Info()
    try:
        address = ctypes.cast(program.cblas_sgemm, ctypes.c_void_p)
    except AttributeError:
        return None  # no global cblas_sgemm: MLX's own copy serves it
    program.dladdr(address, ctypes.byref(info))
    return info.fname.decode()
"""
"""The library that serves the global ``cblas_sgemm`` in the child, found with dladdr, independently of
energy's own ``blas_in_use``."""

needs_bundled_blas = pytest.mark.skipif(bundled_blas() is None,
                                        reason="MLX here ships no reference BLAS (macOS, or a CUDA build)")


def child(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in child_env({"LD_PRELOAD": ""}).items() if k not in THREAD_VARIABLES}
    result = subprocess.run([sys.executable, "-c", SERVING_SGEMM + code], capture_output=True, text=True, timeout=120,
                            cwd=ROOT, env={**environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result


@needs_bundled_blas
def test_after_import_energy_core_ml_openblas_serves_mlx():
    if load_global(openblas_candidates()) is None:
        pytest.skip("no OpenBLAS on this machine (apt-get install libopenblas0-pthread, or pip install cmeel-openblas)")
    result = child("import energy_core.ml\nimport mlx.core as mx\n"
                   "a = mx.ones((64, 64)); assert (a @ a)[0, 0].item() == 64\n"
                   "from energy_core.blas import blas_in_use\nprint(json.dumps([serving(), blas_in_use()]))")
    serving, in_use = json.loads(result.stdout)
    assert "openblas" in serving.lower() and in_use == serving
    assert "reference BLAS" not in result.stderr


THREADS_IN_USE = """
import energy_core.ml
from energy_core.blas import openblas_threads
print(openblas_threads())
"""


@needs_bundled_blas
@pytest.mark.parametrize(("env", "expected"), [({}, THREADS), ({"OPENBLAS_NUM_THREADS": "2"}, 2)])
def test_openblas_runs_one_thread_unless_the_user_sets_a_count(env, expected):
    """Idle OpenBLAS threads spin and slow every other process on the machine; a count the user sets wins."""
    if load_global(openblas_candidates()) is None:
        pytest.skip("no OpenBLAS on this machine (apt-get install libopenblas0-pthread, or pip install cmeel-openblas)")
    assert int(child(THREADS_IN_USE, env).stdout) == expected


@needs_bundled_blas
def test_mlx_imported_before_energy_keeps_its_reference_blas_and_the_warning_says_why():
    result = child("import mlx.core\nfrom energy_core.blas import blas_in_use, load_openblas, slow_blas_warning\n"
                   "assert load_openblas() is None  # too late\n"
                   "print(json.dumps([serving(), blas_in_use(), slow_blas_warning(blas_in_use())]))")
    serving, in_use, warning = json.loads(result.stdout)
    assert serving is None and "libblas" in in_use
    fix = "import energy_core.ml first" if ctypes.util.find_library("openblas") else "libopenblas0-pthread"
    assert "reference BLAS" in warning and fix in warning


@needs_bundled_blas
def test_without_openblas_one_warning_says_how_to_get_it():
    result = child("import energy_core.blas as blas\n"
                   "blas.openblas_candidates = lambda: ['/nonexistent/libopenblas.so.0']\n"
                   "import energy_core.ml\nimport mlx.core\nprint(json.dumps(serving()))")
    assert json.loads(result.stdout) is None
    (line,) = result.stderr.splitlines()
    assert "reference BLAS" in line and "apt-get install libopenblas0-pthread" in line and "cmeel-openblas" in line


def test_a_library_without_the_standard_cblas_symbols_is_passed_over():
    """numpy's and scipy-openblas32's OpenBLAS export ``scipy_cblas_sgemm``: useless to MLX."""
    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no libm to stand in for a library without cblas_sgemm")
    assert load_global(["/nonexistent/libopenblas.so.0", libm]) is None


def test_the_warning_names_the_fix_only_for_the_bundled_reference_blas():
    assert "LD_PRELOAD=/opt/lib/libopenblas.so.0" in slow_blas_warning(REFERENCE, openblas="/opt/lib/libopenblas.so.0")
    assert slow_blas_warning("/usr/lib/x86_64-linux-gnu/libopenblas.so.0") is None
    assert slow_blas_warning(None) is None  # Metal, CUDA, or not Linux


def test_without_openblas_on_the_system_the_warning_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    warning = slow_blas_warning(REFERENCE)
    assert "apt-get install libopenblas0-pthread" in warning and "pip install cmeel-openblas" in warning
