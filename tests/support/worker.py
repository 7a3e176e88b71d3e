"""A real Celery worker inside the test process (so it shares the embedded vector store), and
what tests read to hold one mid-batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


def backends_waiting_on_a_lock() -> int:
    """PostgreSQL backends of the test database waiting for a lock (a worker held mid-batch)."""
    from django.db import connection

    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps showing its first snapshot of
        # the statistics: ask for a fresh one each time.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
