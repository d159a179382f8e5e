"""Fast matrix products for MLX on Linux: load OpenBLAS before MLX does, and tell which BLAS serves it.

MLX's Linux wheel bundles the netlib reference BLAS, an unoptimised triple loop 20 to 40 times slower
than OpenBLAS. MLX calls the standard ``cblas_sgemm``, and the dynamic linker binds it when ``mlx.core``
is first imported, looking in the global scope (the program and whatever was loaded with
``RTLD_GLOBAL``) before MLX's own libraries. So an OpenBLAS loaded globally before that import serves
MLX, with no ``LD_PRELOAD`` and no restart. energy calls :func:`load_openblas` wherever it imports MLX:
``energy_core.ml`` when it is imported, the feature store's serving module, ``energy doctor``.

This module sits in the lowest layer (it imports nothing of energy) so that every layer may call it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

SYSTEM_OPENBLAS = "libopenblas.so.0"
"""The soname of the system OpenBLAS (Debian/Ubuntu: ``libopenblas0-pthread``), found through the loader's cache."""

BUNDLED = re.compile(r"/mlx[^/]*\.libs/libblas")
"""The path of the reference BLAS in MLX's Linux wheels (``.../mlx_cpu.libs/libblas-<hash>.so.3``)."""

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
"""The variables OpenBLAS reads for its thread count; when one is set, energy leaves the count to it."""

THREADS = 1
"""OpenBLAS threads for MLX unless one of :data:`THREAD_VARIABLES` says otherwise. The model's products
are small (64 wide) and OpenBLAS's idle threads spin: on 2 cores, a step of the default model alone took
about as long with one thread as with two, for a fraction of the system time, and with two trainings at
once 160 instead of 236 ms (168 hours) and 1.8 instead of 2.3 s (672 hours); benchmarks/training_step.py."""

INSTALL = ("install OpenBLAS and energy loads it before MLX: apt-get install libopenblas0-pthread (Debian/Ubuntu), "
           "or pip install cmeel-openblas (needs the system's libgfortran5)")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _file_of(address: int | None) -> str | None:
    """The file of the shared library that holds ``address`` (dladdr), or None when it cannot tell."""
    program = ctypes.CDLL(None)
    info = _DlInfo()
    if not address or not hasattr(program, "dladdr") or not program.dladdr(ctypes.c_void_p(address),
                                                                           ctypes.byref(info)):
        return None
    return info.dli_fname.decode() if info.dli_fname else None


def openblas_candidates() -> list[str]:
    """The OpenBLAS libraries to try, best first: the system's, then the ``cmeel-openblas`` wheel's."""
    candidates = [SYSTEM_OPENBLAS]
    try:
        dist = metadata.distribution("cmeel-openblas")
    except metadata.PackageNotFoundError:
        return candidates
    libraries = [f for f in dist.files or () if re.search(r"(^|/)libopenblas[^/]*\.so", str(f))]
    return candidates + sorted(str(dist.locate_file(f)) for f in libraries)


def load_global(candidates: Iterable[str]) -> str | None:
    """Load the first of ``candidates`` that loads and exports the standard ``cblas_sgemm`` into the global
    scope; return its file, or None when none does. (``scipy-openblas32`` and numpy's own OpenBLAS would
    not do: their symbols carry a prefix.)"""
    for candidate in candidates:
        try:
            library = ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:  # absent, or a dependency missing (cmeel's OpenBLAS needs libgfortran.so.5)
            log.debug("cannot load %s: %s", candidate, exc)
            continue
        if hasattr(library, "cblas_sgemm"):
            if hasattr(library, "openblas_set_num_threads") and not any(map(os.environ.get, THREAD_VARIABLES)):
                library.openblas_set_num_threads(THREADS)
            return _file_of(ctypes.cast(library.cblas_sgemm, ctypes.c_void_p).value) or candidate
    return None


def bundled_blas() -> Path | None:
    """The reference BLAS that the installed MLX wheel ships, or None (no MLX, or a build without one)."""
    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    return next(iter(sorted(site.glob("mlx*.libs/libblas*"))), None)


@cache
def load_openblas() -> str | None:
    """On Linux, before ``mlx.core`` is first imported, load an OpenBLAS for MLX; return its file.

    None when there is nothing to do (not Linux), when it is too late (``mlx.core`` already imported:
    :func:`slow_blas_warning` then says what to do) or when no OpenBLAS loads; in the last case, if MLX
    bundles its reference BLAS, one warning says how to get OpenBLAS. Runs once per process.
    """
    if sys.platform != "linux" or "mlx.core" in sys.modules:
        return None
    loaded = load_global(openblas_candidates())
    if loaded is None and bundled_blas() is not None:
        log.warning("MLX multiplies matrices with the reference BLAS bundled in its Linux wheel, 20-40x slower "
                    "than OpenBLAS; %s", INSTALL)
    return loaded


def blas_in_use() -> str | None:
    """The file of the library that serves MLX's ``cblas_sgemm`` in this process (once ``mlx.core`` is
    imported), or None when MLX runs without a bundled reference BLAS here (macOS, or not loaded)."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return None
    bundled = [line.split()[-1] for line in maps.read_text().splitlines() if BUNDLED.search(line)]
    if not bundled:
        return None
    try:
        sgemm = ctypes.cast(ctypes.CDLL(None).cblas_sgemm, ctypes.c_void_p).value
    except AttributeError:
        return bundled[0]  # nothing global provides it: MLX's own copy answers
    return _file_of(sgemm) or "a BLAS loaded globally"  # something global does, and it wins


def openblas_threads() -> int | None:
    """The threads the OpenBLAS serving this process runs (see :data:`THREADS`), or None without one."""
    try:
        return int(ctypes.CDLL(None).openblas_get_num_threads())
    except AttributeError:
        return None


def is_bundled(in_use: str | None) -> bool:
    """Whether ``in_use`` (see :func:`blas_in_use`) is MLX's bundled reference BLAS."""
    return in_use is not None and BUNDLED.search(in_use) is not None


def slow_blas_warning(in_use: str | None, openblas: str | None = None) -> str | None:
    """A warning with the fix when ``in_use`` (see :func:`blas_in_use`) is the bundled reference BLAS.

    ``openblas`` is the OpenBLAS library the system has; it is looked up when not given. When there is
    one, MLX was imported before energy could load it.
    """
    if not is_bundled(in_use):
        return None
    openblas = openblas or ctypes.util.find_library("openblas")
    fix = (f"mlx.core was imported before energy could load {openblas}: import energy_core.ml first, or start "
           f"Python with LD_PRELOAD={openblas}" if openblas else INSTALL)
    return (f"MLX multiplies matrices with the reference BLAS bundled in its Linux wheel, 20-40x slower than "
            f"OpenBLAS; {fix}")
