"""The process's one model thread: torch loads, and every forward pass runs, here.

Every thread that calls into torch gets its own OpenMP team, and with two
teams on this machine's 2 cores every forward pass ran 2.5 times slower, in
every thread, for good (one query's text encode: 7.4 ms while one thread had
ever used torch, 19.5 ms once a second had).  A server answers from a pool of
threads and loads the model in another, so torch's threads, the load and
every forward pass live on this one thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_here = threading.local()


def on_model_thread() -> bool:
    return getattr(_here, "active", False)


def submit(work: Callable[[], T]) -> Future[T]:
    """Queue `work` on the model thread without waiting for it."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                1, thread_name_prefix="clip-model", initializer=_mark_model_thread
            )
        runner = _executor
    return runner.submit(work)


def in_model_thread(work: Callable[[], T]) -> T:
    """Run `work` on the model thread, wait, and return its result (or raise its error)."""
    if on_model_thread():
        return work()
    return submit(work).result()


def _mark_model_thread() -> None:
    _here.active = True


def _forget_model_thread() -> None:
    # A forked child (a prefork Celery worker) has the executor but not its thread.
    global _executor, _executor_lock
    _executor = None
    _executor_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_model_thread)
