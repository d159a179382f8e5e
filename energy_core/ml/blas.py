"""Say so when MLX multiplies matrices with the reference BLAS its Linux CPU wheel bundles.

That BLAS is an unoptimised triple loop, 20 to 40 times slower than OpenBLAS on the same CPU (see
the README). MLX calls the standard ``cblas_sgemm``, and the dynamic linker resolves it in the
global scope (the program and anything preloaded) before MLX's own libraries, so a process started
with OpenBLAS preloaded uses it instead. energy never preloads anything itself; it tells the user how.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

BUNDLED = "mlx_cpu.libs/libblas"
"""The path fragment of the reference BLAS in the ``mlx-cpu`` wheel."""


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def blas_in_use() -> str | None:
    """The file of the library that serves MLX's ``cblas_sgemm`` in this process, or None when MLX
    does not run on its Linux CPU wheel (Metal, CUDA, or not Linux)."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return None
    bundled = [line.split()[-1] for line in maps.read_text().splitlines() if BUNDLED in line]
    if not bundled:
        return None
    program = ctypes.CDLL(None)
    try:
        sgemm = ctypes.cast(program.cblas_sgemm, ctypes.c_void_p)
    except AttributeError:
        return bundled[0]  # nothing global provides it: MLX's own copy answers
    info = _DlInfo()  # something global (a preload) provides it, and it wins: name its file
    if not hasattr(program, "dladdr") or not program.dladdr(sgemm, ctypes.byref(info)) or not info.dli_fname:
        return "a preloaded BLAS"
    return info.dli_fname.decode()


def slow_blas_warning(in_use: str | None, openblas: str | None = None) -> str | None:
    """A warning with the fix when ``in_use`` (see :func:`blas_in_use`) is the bundled reference BLAS.

    ``openblas`` is the OpenBLAS library the system has; it is looked up when not given.
    """
    if in_use is None or BUNDLED not in in_use:
        return None
    openblas = openblas or ctypes.util.find_library("openblas")
    fix = (f"start it with LD_PRELOAD={openblas}" if openblas
           else "install OpenBLAS (Debian/Ubuntu: libopenblas0-pthread) and start it with LD_PRELOAD=libopenblas.so.0")
    return (f"MLX multiplies matrices with the reference BLAS bundled in its Linux CPU wheel, 20-40x slower than "
            f"OpenBLAS; {fix} to train several times faster")
