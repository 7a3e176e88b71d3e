"""The decode/encode pipeline: order, isolation of bad items, bounded look-ahead, overlap."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from encoder.pipeline import encode_stream


def test_batches_keep_input_order_and_isolate_failures() -> None:
    def prepare(n: int) -> int:
        if n % 5 == 3:
            raise ValueError(f"item {n} is unreadable")
        return n * 10

    batches = list(
        encode_stream(
            range(12),
            prepare=prepare,
            encode=lambda prepared: np.asarray(prepared, dtype=np.float32)[:, None],
            batch_size=4,
            workers=2,
            failures=(ValueError,),
        )
    )

    assert [item for batch in batches for item in batch.items] == [0, 1, 2, 4, 5, 6, 7, 9, 10, 11]
    assert [float(v) for batch in batches for v in batch.vectors[:, 0]] == [
        0, 10, 20, 40, 50, 60, 70, 90, 100, 110
    ]  # fmt: skip
    assert [(item, str(error)) for batch in batches for item, error in batch.failures] == [
        (3, "item 3 is unreadable"),
        (8, "item 8 is unreadable"),
    ]


def test_an_unexpected_error_is_not_swallowed() -> None:
    def prepare(n: int) -> int:
        raise KeyError(n)

    with pytest.raises(KeyError):
        list(
            encode_stream(
                range(3), prepare=prepare, encode=np.asarray, batch_size=2, failures=(ValueError,)
            )
        )


def test_the_source_is_read_lazily_a_bounded_distance_ahead() -> None:
    pulled = 0

    def source() -> object:
        nonlocal pulled
        for n in range(10_000):
            pulled += 1
            yield n

    stream = encode_stream(
        source(), prepare=lambda n: n, encode=np.asarray, batch_size=8, workers=2
    )
    next(stream)

    # One batch handed out, at most two more in preparation: not the whole source.
    assert pulled <= 8 + 2 * 8 + 1


def test_decoding_runs_while_the_model_encodes() -> None:
    """The next batch is prepared in the pool while `encode` holds the caller's thread."""
    prepared_during_encode: list[int] = []
    encoding = threading.Event()

    def prepare(n: int) -> int:
        time.sleep(0.01)  # a decode
        if encoding.is_set():
            prepared_during_encode.append(n)
        return n

    def encode(batch: list[int]) -> np.ndarray:
        encoding.set()
        time.sleep(0.2)  # a slow model
        encoding.clear()
        return np.asarray(batch, dtype=np.float32)

    list(encode_stream(range(16), prepare=prepare, encode=encode, batch_size=4, workers=1))

    assert prepared_during_encode, "nothing was decoded while the model ran"
