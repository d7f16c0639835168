"""A small in-process memo where concurrent askers for the same key share one computation."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Keeps the last ``size`` results; a key being computed is waited on, not computed again.

    The bridge runs queries on several threads, so two queries needing the same history at
    once must not both run ``git log``. Failures are not kept: the next asker tries again.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, Future[V]] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The value for ``key``, computed by ``compute`` unless it is known or under way."""
        with self._lock:
            future = self._entries.get(key)
            owner = future is None
            if future is None:
                future = self._entries[key] = Future()
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:
                with self._lock:
                    if self._entries.get(key) is future:
                        del self._entries[key]
                future.set_exception(exc)
        return future.result()

    def peek(self, key: K) -> V | None:
        """The value for ``key`` if it is known or under way (waiting for it), else None."""
        with self._lock:
            future = self._entries.get(key)
        return None if future is None else future.result()
