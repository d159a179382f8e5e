"""An advisory lock so only one process writes a store at a time."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from energy_core.errors import StorageError

logger = logging.getLogger(__name__)


class StoreLock:
    """An advisory lock so only one process writes a store at a time (released by the OS on death)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None

    def __enter__(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            raise StorageError(f"{self.path.parent} is locked by {holder}, which is writing it; wait for it to "
                               "finish and run again") from None
        self._fh.seek(0)
        left = self._fh.read().strip()
        if left:  # the holder died without unlocking (the OS released its flock): take the lock over
            logger.warning("taking over %s, left behind by %s, which is no longer running", self.path, left)
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None
        self._fh.truncate(0)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
