"""Concurrent requests to one tower share a forward on the model thread.

A server answers from many threads, and a query needs one row of a forward.
Alone, N concurrent queries would cost N forwards queued one after another on
the model thread; shared, they cost about one, because a forward of a few rows
takes little longer than a forward of one.

A request that finds the model thread idle runs at once, alone: nothing waits
for company that is not coming. Requests that arrive while a forward runs
queue, and the next forward takes them all (up to `max_rows`). When it finds
others queued, the load is up, and it may wait up to `wait_seconds` for the
batch to fill (`CLIP_QUERY_BATCH_WAIT_MS`, chosen by `bench.api`).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from encoder import modelthread

X = TypeVar("X")


@dataclass
class _Request(Generic[X]):
    payload: X
    rows: int
    future: Future[np.ndarray] = field(default_factory=Future)


class SharedForward(Generic[X]):
    """Calls `run(payloads)` on the model thread with the payloads of every queued request.

    `run` returns one row per payload row, in order; each caller gets its own
    rows back (or the exception `run` raised). `max_rows` 1 gives every
    request its own forward, for a precision whose vectors depend on their
    batch-mates (dynamic int8).
    """

    def __init__(
        self, run: Callable[[list[X]], np.ndarray], *, max_rows: int, wait_seconds: float = 0.0
    ) -> None:
        self._run = run
        self.max_rows = max(1, max_rows)
        self.wait_seconds = max(0.0, wait_seconds)
        self._reset()
        _instances.add(self)

    def _reset(self) -> None:
        self._pending: deque[_Request[X]] = deque()
        self._lock = threading.Lock()
        self._draining = False

    def __call__(self, payload: X, rows: int) -> np.ndarray:
        if modelthread.on_model_thread():
            return self._run([payload])
        request = _Request(payload, rows)
        with self._lock:
            self._pending.append(request)
            start, self._draining = not self._draining, True
        if start:
            modelthread.submit(self._drain)
        return request.future.result()

    def _drain(self) -> None:
        with self._lock:
            batch = self._take([])
            crowded = bool(self._pending) or len(batch) > 1
        if crowded and self.wait_seconds:
            deadline = time.monotonic() + self.wait_seconds
            while sum(r.rows for r in batch) < self.max_rows and time.monotonic() < deadline:
                time.sleep(0.0002)
                with self._lock:
                    batch = self._take(batch)
        try:
            vectors = self._run([r.payload for r in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every caller, raised there
            for request in batch:
                request.future.set_exception(exc)
        else:
            offset = 0
            for request in batch:
                request.future.set_result(vectors[offset : offset + request.rows])
                offset += request.rows
        with self._lock:
            # Queued behind other model-thread work rather than looping here,
            # so that a stream of queries cannot starve indexing or a load.
            if self._pending:
                modelthread.submit(self._drain)
            else:
                self._draining = False

    def _take(self, batch: list[_Request[X]]) -> list[_Request[X]]:
        """`batch` and queued requests while they fit in `max_rows` (at least one); locked."""
        taken = list(batch)
        rows = sum(r.rows for r in taken)
        while self._pending and (not taken or rows + self._pending[0].rows <= self.max_rows):
            request = self._pending.popleft()
            taken.append(request)
            rows += request.rows
            if self.max_rows == 1:
                break
        return taken


_instances: weakref.WeakSet[SharedForward[Any]] = weakref.WeakSet()


def _forget_requests() -> None:
    # A forked child inherits the queue, and perhaps a drain in progress, but
    # not the model thread that would finish it.
    for shared in list(_instances):
        shared._reset()


os.register_at_fork(after_in_child=_forget_requests)
