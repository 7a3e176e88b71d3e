"""Concurrent queries share forwards on the model thread, and get the vectors they would alone."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage

from encoder.batching import SharedForward
from encoder.clip import ClipEncoder


class Tower:
    """A forward that records each batch it is given and can be held mid-forward."""

    def __init__(self) -> None:
        self.batches: list[list[list[int]]] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def __call__(self, parts: list[list[int]]) -> np.ndarray:
        self.batches.append(parts)
        self.started.set()
        assert self.release.wait(30)
        rows = [value for part in parts for value in part]
        if -1 in rows:
            raise ValueError("a row the tower refuses")
        return np.array([[value, value * 10] for value in rows], dtype=np.float32)


def run_together(calls: list[Callable[[], np.ndarray]]) -> list[np.ndarray]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(30) for f in [pool.submit(call) for call in calls]]


def queue_behind_a_held_forward(
    shared: SharedForward[list[int]], tower: Tower, payloads: list[list[int]]
) -> list[np.ndarray]:
    """Hold a first forward, queue `payloads` from threads behind it, then let everything run."""
    tower.release.clear()
    with ThreadPoolExecutor(len(payloads) + 1) as pool:
        first = pool.submit(shared, [100], 1)
        assert tower.started.wait(30)
        rest = [pool.submit(shared, payload, len(payload)) for payload in payloads]
        while len(shared._pending) < len(payloads):
            threading.Event().wait(0.001)
        tower.release.set()
        first.result(30)
        return [f.result(30) for f in rest]


def test_a_lone_request_runs_at_once_however_long_the_wait_setting() -> None:
    tower = Tower()
    # A wait that would time the test out if a lone request waited for company.
    shared = SharedForward(tower, max_rows=32, wait_seconds=600)

    out = shared([3], 1)

    assert out.tolist() == [[3, 30]]
    assert tower.batches == [[[3]]]


def test_requests_queued_behind_a_forward_share_the_next_one_and_get_their_own_rows() -> None:
    tower = Tower()
    shared = SharedForward(tower, max_rows=32)

    results = queue_behind_a_held_forward(shared, tower, [[1], [2, 3], [4], [5]])

    assert [r.tolist() for r in results] == [[[1, 10]], [[2, 20], [3, 30]], [[4, 40]], [[5, 50]]]
    assert len(tower.batches) == 2
    assert sorted(v for part in tower.batches[1] for v in part) == [1, 2, 3, 4, 5]


def test_a_shared_forward_takes_at_most_max_rows() -> None:
    tower = Tower()
    shared = SharedForward(tower, max_rows=3)

    queue_behind_a_held_forward(shared, tower, [[1], [2], [3], [4], [5]])

    sizes = [sum(len(part) for part in batch) for batch in tower.batches]
    assert sizes[0] == 1
    assert max(sizes) <= 3
    assert sum(sizes) == 6
    assert len(sizes) >= 3


def test_max_rows_one_gives_each_request_its_own_forward() -> None:
    tower = Tower()
    shared = SharedForward(tower, max_rows=1)

    queue_behind_a_held_forward(shared, tower, [[1], [2], [3]])

    assert all(len(batch) == 1 for batch in tower.batches)
    assert len(tower.batches) == 4


def test_an_error_in_a_shared_forward_reaches_each_caller_and_the_next_forward_runs() -> None:
    tower = Tower()
    shared = SharedForward(tower, max_rows=32)

    with pytest.raises(ValueError, match="refuses"):
        shared([-1], 1)

    assert shared([7], 1).tolist() == [[7, 70]]


@pytest.fixture(scope="module")
def batched() -> ClipEncoder:
    # Precision as `auto` picks it on this host: what serves queries.
    return ClipEncoder(
        settings.CLIP_MODEL,
        device="cpu",
        precision="auto",
        query_batch=32,
        query_wait_seconds=0.002,
    )


QUERIES = [
    "a red circle",
    "two small blue squares on the left of a noisy picture",
    "star",
    "a large purple star at the top",
    "green triangle",
    "three yellow crosses",
    "a white square",
    "an orange circle in the middle",
] * 2


def test_concurrent_text_queries_get_the_vectors_they_get_alone(batched: ClipEncoder) -> None:
    assert_shared_and_as_alone(batched.encode_texts, QUERIES, "text")


def test_concurrent_image_queries_get_the_vectors_they_get_alone(batched: ClipEncoder) -> None:
    rng = np.random.default_rng(3)
    images = [
        PILImage.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((120, 90))
        for _ in range(12)
    ]
    assert_shared_and_as_alone(batched.encode_images, images, "image")


def assert_shared_and_as_alone(
    encode: Callable[[list[Any]], np.ndarray], items: list[Any], kind: str
) -> None:
    """Each item from its own thread, all at once: its vector alone, in fewer forwards.

    (`auto` never picks int8, the one precision whose requests each run alone.)
    """
    alone = np.concatenate([encode([item]) for item in items])
    sizes_before = _batch_sizes(kind)

    together = np.concatenate(run_together([functools.partial(encode, [item]) for item in items]))

    assert (alone * together).sum(axis=1).min() >= 0.9999
    forwards, rows = np.subtract(_batch_sizes(kind), sizes_before)
    assert rows == len(items)
    assert forwards < len(items), "no forward was shared"


def _batch_sizes(kind: str) -> tuple[float, float]:
    from prometheus_client import REGISTRY

    labels = {"kind": kind}
    count = REGISTRY.get_sample_value("clipsearch_encoder_batch_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("clipsearch_encoder_batch_size_sum", labels) or 0.0
    return count, total
