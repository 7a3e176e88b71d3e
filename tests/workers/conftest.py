from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.worker import in_process_worker


@pytest.fixture
def celery_worker_in_process() -> Iterator[None]:
    """A real worker consuming the broker's queue, emptied first, for the test's length."""
    from clipsite.celery import app

    app.control.purge()
    with in_process_worker():
        yield
