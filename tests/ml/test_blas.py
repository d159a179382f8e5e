"""The warning `energy train` gives when MLX runs on the reference BLAS of its Linux CPU wheel."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from energy_core.ml.blas import BUNDLED, blas_in_use, slow_blas_warning

REFERENCE = "/venv/site-packages/mlx_cpu.libs/libblas-bd8a282c.so.3.10.0"


def test_the_warning_names_the_fix_only_for_the_bundled_reference_blas():
    assert "LD_PRELOAD=/opt/lib/libopenblas.so.0" in slow_blas_warning(REFERENCE, openblas="/opt/lib/libopenblas.so.0")
    assert slow_blas_warning("/usr/lib/x86_64-linux-gnu/libopenblas.so.0") is None
    assert slow_blas_warning(None) is None  # Metal, CUDA, or not Linux


def test_without_openblas_on_the_system_the_warning_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert "install OpenBLAS" in slow_blas_warning(REFERENCE)


def in_use(env: dict[str, str]) -> str:
    code = "import mlx.core as mx; from energy_core.ml.blas import blas_in_use; print(blas_in_use())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


@pytest.mark.skipif(blas_in_use() is None, reason="MLX here does not run on its Linux CPU wheel")
def test_a_preloaded_openblas_is_found_serving_mlx_and_the_bundled_one_otherwise():
    plain = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    assert BUNDLED in in_use(plain)
    openblas = ctypes.util.find_library("openblas")
    if openblas is None:
        pytest.skip("no OpenBLAS on this system to preload")
    preloaded = in_use({**plain, "LD_PRELOAD": openblas})
    assert "openblas" in preloaded and slow_blas_warning(preloaded) is None
