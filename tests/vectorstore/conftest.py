from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.vectorstore.servers import FakeQdrant


@pytest.fixture
def fake_qdrant() -> Iterator[Callable[..., FakeQdrant]]:
    started: list[FakeQdrant] = []

    def start(**behaviour: Any) -> FakeQdrant:
        started.append(FakeQdrant(**behaviour))
        return started[-1]

    yield start
    for server in started:
        server.stop()
