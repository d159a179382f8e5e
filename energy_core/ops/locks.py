"""Waiting for a store's lock, for work started by a scheduler: a trigger that finds the store being
written waits for the writer, and after a while gives up with :class:`StoreBusyError` (the next trigger
does the work), never writing beside it.

The locks are :class:`~energy_core.storage.lock.StoreLock`'s advisory ``flock`` s; a probe takes a
shared lock for an instant, so probing never blocks a writer that is about to take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from energy_core.errors import StorageError
from energy_core.storage.lock import StoreLock

T = TypeVar("T")
POLL_S = 0.5
EXIT_BUSY = 75
"""``EX_TEMPFAIL``: the work was skipped because someone else holds the lock; try again later."""


class StoreBusyError(StorageError):
    """Another process held the lock for longer than the caller would wait: the work was skipped."""

    exit_code = EXIT_BUSY
    transient = True


def lock_holder(path: Path) -> str | None:
    """Who holds the lock at ``path`` (``"pid N"``), or None when nobody does."""
    try:
        with open(path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return fh.read().strip() or "another process"
            fcntl.flock(fh, fcntl.LOCK_UN)
            return None
    except FileNotFoundError:
        return None


def when_free(path: Path, what: str, work: Callable[[], T], *, wait_s: float, poll_s: float = POLL_S) -> T:
    """``work()`` once nobody holds the lock at ``path``; ``work`` takes the lock itself. Waits up to
    ``wait_s`` seconds for the holder, then raises :class:`StoreBusyError` naming ``what`` was skipped.
    A :class:`StorageError` from ``work`` while the lock is held (another process took it first) waits
    again."""
    deadline = time.monotonic() + wait_s
    while True:
        holder = lock_holder(path)
        if holder is None:
            try:
                return work()
            except StoreBusyError:
                raise
            except StorageError:
                holder = lock_holder(path)
                if holder is None:  # a failure of its own, not the lock
                    raise
        if time.monotonic() >= deadline:
            raise StoreBusyError(f"{what} skipped: {path} is locked by {holder}, which is writing the store it "
                                 f"guards; waited {wait_s:g} s. Nothing was changed; the next run does this work")
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))


@contextlib.contextmanager
def held(path: Path, what: str, *, wait_s: float, poll_s: float = POLL_S) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, waiting up to ``wait_s`` seconds for it (see :func:`when_free`)."""
    lock = when_free(path, what, StoreLock(path).__enter__, wait_s=wait_s, poll_s=poll_s)
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
