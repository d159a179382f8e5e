"""Encoded answers kept in memory, bounded in bytes: the server answers a repeated question (the same
context, the same range of observations, before the data changed) without reading or encoding again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from energy_core.serve.formats import Encoded


class Answers:
    """Answers by key, the least recently used evicted first once they hold more than ``limit_bytes``
    (one answer larger than that is never kept). Keys carry what makes an answer current (a table
    version, a file's identity), so an answer is never stale, only unused. Safe to share between threads."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._answers: OrderedDict[Hashable, Encoded] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Encoded | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def keep(self, key: Hashable, answer: Encoded) -> None:
        with self._lock:
            if key in self._answers or len(answer.body) > self.limit_bytes:
                return
            self._answers[key] = answer
            self._held += len(answer.body)
            while self._held > self.limit_bytes:
                _, evicted = self._answers.popitem(last=False)
                self._held -= len(evicted.body)
