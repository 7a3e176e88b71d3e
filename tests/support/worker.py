"""A real Celery worker inside the test process (so it shares the embedded vector store)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def in_process_worker() -> Iterator[None]:
    from celery.contrib.testing.worker import start_worker

    from clipsite.celery import app
    from workers.tasks import index_image_task

    # celery-batches keeps its flush timer on the task object; a worker started
    # earlier in this process took that timer with it when it stopped.
    index_image_task._tref = None
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield
