"""Each reduced precision is accepted only where it keeps the fp32 model's answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from demo import Sample, evaluate, held_out_scenes
from encoder.clip import PRECISIONS, ClipEncoder, EncoderUnavailable, resolve_precision


@pytest.fixture(scope="module")
def held_out() -> dict[str, list[Sample]]:
    return {
        renderer: [
            Sample(*item)
            for item in held_out_scenes(
                seed=1234, repeats=2, renderer=renderer, min_side=40, max_side=256
            )
        ]
        for renderer in ("pil", "numpy")
    }


@pytest.fixture(scope="module")
def fp32() -> ClipEncoder:
    return ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="fp32")


@pytest.mark.parametrize("precision", [p for p in PRECISIONS["cpu"] if p != "fp32"])
def test_cpu_precision_keeps_cosine_and_recall(
    precision: str, fp32: ClipEncoder, held_out: dict[str, list[Sample]]
) -> None:
    reduced = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision=precision)

    for renderer, samples in held_out.items():
        images = [sample.image for sample in samples]
        cosine = (fp32.encode_images(images) * reduced.encode_images(images)).sum(axis=1)
        assert cosine.min() >= 0.99, renderer

        before = evaluate(fp32.encode_images, fp32.encode_texts, samples)
        after = evaluate(reduced.encode_images, reduced.encode_texts, samples)
        assert after["t2i/R@5"] >= before["t2i/R@5"] - 0.01, renderer
        assert after["i2t/R@5"] >= before["i2t/R@5"] - 0.01, renderer


def test_auto_is_the_fastest_accepted_mode_per_device() -> None:
    assert resolve_precision("auto", "cpu") == "int8"
    assert resolve_precision("auto", "cuda:0") == "fp16"
    assert resolve_precision("bf16", "cpu") == "bf16"


@pytest.mark.parametrize(
    ("precision", "device"), [("fp16", "cpu"), ("int8", "cuda"), ("fp8", "cpu")]
)
def test_a_mode_the_device_cannot_run_is_a_clear_error(precision: str, device: str) -> None:
    with pytest.raises(EncoderUnavailable, match="CLIP_PRECISION"):
        resolve_precision(precision, device)


@pytest.mark.parametrize("precision", [p for p in PRECISIONS["cpu"] if p != "fp32"])
def test_text_queries_at_reduced_precision_keep_their_direction(
    precision: str, fp32: ClipEncoder
) -> None:
    reduced = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision=precision)
    texts = ["a red circle", "a small blue square on the left", "star", "two green crosses"]

    cosine = (reduced.encode_texts(texts) * fp32.encode_texts(texts)).sum(axis=1)

    assert cosine.min() >= 0.99


def test_thread_rule_divides_the_cores_among_worker_processes(settings: Any) -> None:
    import os

    import torch

    from encoder.clip import configure_threads, in_model_thread

    # OpenMP keeps the thread count per thread: what counts is the model thread's.
    before = in_model_thread(torch.get_num_threads)
    try:
        settings.CELERY_WORKER_CONCURRENCY = 2
        assert configure_threads(0) == max(1, (os.cpu_count() or 1) // 2)
        assert in_model_thread(torch.get_num_threads) == max(1, (os.cpu_count() or 1) // 2)
        assert configure_threads(1) == 1
    finally:
        in_model_thread(lambda: torch.set_num_threads(before))
