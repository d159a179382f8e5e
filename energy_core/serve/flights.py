"""Single flight: at most one computation per key at a time, its result shared by every caller that
asks for the key meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    def running(self, key: K) -> bool:
        return key in self._running

    async def run(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        """The result of ``compute()`` for ``key``, computed once however many callers wait for it. A
        caller that gives up (a client that disconnects) does not cancel it for the others."""
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._running[key] = future
            future.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(future)

    def _finished(self, key: K, future: asyncio.Future[V]) -> None:
        self._running.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so an error nobody awaited any more is not reported as lost
