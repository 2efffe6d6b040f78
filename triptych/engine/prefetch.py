"""One-ahead prefetch of a pure function of a key on a helper thread.

`triptych.engine.masks` uses it for exact Dropout's masks: while the steps of one block
run, the masks of the next block are drawn (numpy) and converted to native tensors on a
helper thread. Their values are a pure function of the key, so they are the numbers the
calling thread would compute, only off its path: numpy's generator fill and ufuncs and the
framework's step release the GIL, so the work overlaps the step where a second core is free
(and costs the same CPU time where none is).
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _serve(
    fn: Callable[[Any], Any], requests: queue.SimpleQueue, replies: queue.SimpleQueue
) -> None:
    """The helper thread: ``(key, fn(key), None)`` (or ``(key, None, exception)``) for each
    requested key, until a ``None`` request."""
    while (key := requests.get()) is not None:
        try:
            replies.put((key, fn(key), None))
        except BaseException as exc:  # handed to the caller, raised on its thread
            replies.put((key, None, exc))


class Prefetch(Generic[K, V]):
    """``get(key)`` returns ``fn(key)`` and starts computing ``fn(next_key(key))`` on a
    helper thread, so the next `get` of that key finds it done (or waits for it). A `get`
    of another key computes that on the calling thread (the prefetched value is dropped).
    ``fn`` must be a pure function of its key, safe on another thread, and must not hold a
    reference to this object's owner: the helper thread ends when this object is collected
    or at `close`."""

    def __init__(self, fn: Callable[[K], V], next_key: Callable[[K], K]) -> None:
        self.fn, self.next_key = fn, next_key
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending: K | None = None  # the key the helper thread was last asked for
        self._closed = False

    def get(self, key: K) -> V:
        """``fn(key)``, prefetched if the previous `get` predicted ``key``."""
        value = self._take(key)
        self._schedule(self.next_key(key))
        return value

    def _take(self, key: K) -> V:
        if self._pending is None:
            return self.fn(key)
        pending, self._pending = self._pending, None
        _, value, exc = self._replies.get()
        if pending != key:
            return self.fn(key)  # mispredicted: the prefetched value is not this one
        if exc is not None:
            raise exc
        return value

    def _schedule(self, key: K) -> None:
        if self._closed:
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=_serve,
                args=(self.fn, self._requests, self._replies),
                name="triptych-prefetch",
                daemon=True,
            )
            self._thread.start()
            weakref.finalize(self, self._requests.put, None)  # ends the thread with us
        self._pending = key
        self._requests.put(key)

    def close(self) -> None:
        """End the helper thread (after what it is computing); `get` still works, on the
        calling thread."""
        if self._pending is not None:
            self._replies.get()
        self._closed, self._pending = True, None
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join()
            self._thread = None
