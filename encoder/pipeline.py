"""Encode a stream of images in batches while the next batch is decoded.

Decoding and resizing run in a small thread pool (Pillow and numpy release
the GIL, and so does the model's forward), a bounded distance ahead of the
model, so the model never waits for the disk and memory stays flat however
long the stream is.  Each item fails on its own: a file that cannot be read
is reported with its error, and the rest of its batch is encoded.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")
P = TypeVar("P")


@dataclass
class EncodedBatch(Generic[T, P]):
    """One batch: the items that encoded, their vectors in order, and those that failed."""

    items: list[T] = field(default_factory=list)
    prepared: list[P] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    failures: list[tuple[T, Exception]] = field(default_factory=list)


def encode_stream(
    items: Iterable[T],
    *,
    prepare: Callable[[T], P],
    encode: Callable[[list[P]], np.ndarray],
    batch_size: int,
    workers: int = 1,
    failures: tuple[type[Exception], ...] = (Exception,),
) -> Iterator[EncodedBatch[T, P]]:
    """Yield `EncodedBatch`es of up to `batch_size` items, in input order.

    `prepare` runs in `workers` threads (decode, resize: anything per item),
    `encode` in the caller's thread on each full batch of prepared items.  An
    exception of a type in `failures` from `prepare` fails only its item;
    anything else propagates.
    """
    ahead = max(2 * batch_size, workers)
    source = iter(items)
    pending: deque[tuple[T, Future[P]]] = deque()
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="decode", initializer=_yield_to_the_model
    ) as pool:

        def top_up() -> None:
            while len(pending) < ahead:
                try:
                    item = next(source)
                except StopIteration:
                    return
                pending.append((item, pool.submit(prepare, item)))

        try:
            top_up()
            while pending:
                batch: EncodedBatch[T, P] = EncodedBatch()
                while pending and len(batch.items) < batch_size:
                    item, future = pending.popleft()
                    try:
                        prepared = future.result()
                    except failures as exc:
                        batch.failures.append((item, exc))
                    else:
                        batch.items.append(item)
                        batch.prepared.append(prepared)
                    top_up()
                batch.vectors = encode(batch.prepared) if batch.prepared else batch.vectors
                yield batch
        finally:
            for _, future in pending:
                future.cancel()


def _yield_to_the_model() -> None:
    """Run this decode thread at a lower priority than the model's threads.

    When the model is the bottleneck (small photos), decoding should only use
    the CPU time the forward leaves; when decoding is (large photos), the
    model waits on it and the priority costs nothing.  Linux applies nice per
    thread; elsewhere this does nothing.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
