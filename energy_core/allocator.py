"""Keep the memory of large, short-lived buffers in the process instead of handing it back at each free.

A run holds each response body (about a megabyte for an EIA page) for a few milliseconds, on many
threads. glibc's malloc serves blocks that size with ``mmap`` and returns them to the kernel when freed
(or trims its heaps back once their free top passes a threshold), so every body is written into fresh
pages that the kernel faults in and zeroes one at a time: at 3y-8 of ``benchmarks/scale.py`` that was
about a twentieth of a run's CPU time. Fixed thresholds above a body's size keep those pages in the
heaps for the next body; peak memory grows by a few tens of megabytes.

The CLI calls :func:`keep_large_buffers` once at start-up; a program using energy as a library may too.
This module sits in the lowest layer (it imports nothing of energy).
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 16 << 20
"""Blocks up to this size come from the heaps rather than their own mappings."""
TRIM_THRESHOLD = 64 << 20
"""Free memory a heap keeps at its top before giving it back."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameters, from glibc's ``malloc.h``."""


def keep_large_buffers() -> bool:
    """Set glibc's thresholds (see the module); whether they were set. Nothing is changed on other C
    libraries, or where the environment tunes malloc itself (``GLIBC_TUNABLES``, ``MALLOC_*``)."""
    user_tuned = "malloc" in os.environ.get("GLIBC_TUNABLES", "") or any(n.startswith("MALLOC_") for n in os.environ)
    if not sys.platform.startswith("linux") or user_tuned:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
