"""Named crash points for crash-safety tests.

``ENERGY_FAULT=<point>`` makes the process kill itself (SIGKILL, no cleanup, like a power cut) when
it reaches that point. Each point sits just before or after a step that writes, so a test can check
that a crash there loses nothing that was stored and that the next run repairs the rest.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "ENERGY_FAULT"

POINTS = (
    "raw_cached",                          # a response is in the raw cache, nothing else is
    "validated",                           # a batch is normalized and validated, not yet handed to a sink
    "lake_before_commit",                  # a dataset's months are merged, nothing of them is written yet
    "lake_after_commit",                   # a dataset's months are committed, the catalog knows nothing yet
    "catalog_before_commit",               # the catalog transaction that closes a run is open
    "lance_before_commit",                 # a feature table merge is about to commit
    "lance_after_commit_before_manifest",  # the table committed, its build record is not yet written
    "cache_prune_mid",                     # a prune deleted rows, its compaction has not run
)


def fault_point(name: str) -> None:
    """Kill this process if ``ENERGY_FAULT`` names this point (a no-op otherwise)."""
    wanted = os.environ.get(VARIABLE)
    if wanted is None:
        return
    if wanted not in POINTS:
        raise ValueError(f"{VARIABLE}={wanted!r} names no fault point; the points are {', '.join(POINTS)}")
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
