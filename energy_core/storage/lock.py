"""An advisory lock so only one process writes a store at a time."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import TextIO

from energy_core.errors import StorageError

logger = logging.getLogger(__name__)


def _holder(fh: TextIO) -> str:
    """The holder's pid, which it writes just after it takes the lock: wait briefly if it has not yet."""
    for _ in range(20):
        fh.seek(0)
        holder = fh.read().strip()
        if holder:
            return holder
        time.sleep(0.05)
    return "another process"


class StoreLock:
    """An advisory lock so only one process writes a store at a time (released by the OS on death)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def __enter__(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fh)
            fh.close()
            raise StorageError(f"{self.path} is locked by {holder}, which is writing the store it guards; wait "
                               "for it to finish and run again") from None
        fh.seek(0)
        left = fh.read().strip()
        if left:  # the holder died without unlocking (the OS released its flock): take the lock over
            logger.warning("taking over %s, left behind by %s, which is no longer running", self.path, left)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None
        self._fh.truncate(0)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
