"""Each reduced precision is accepted only where it keeps the fp32 model's answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage

from demo import Sample, evaluate, held_out_scenes
from encoder.clip import PRECISIONS, ClipEncoder, EncoderUnavailable, resolve_precision
from encoder.precision import (
    GATE_BATCH,
    GATE_COSINE,
    INT8,
    Host,
    Trial,
    cache_key,
    candidates,
    choose,
)
from tests.support.models import save_b32_shaped


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


AMX = Host("cpu", "Xeon with AMX", frozenset({"avx2", "avx512f", "amx_bf16", "amx_int8", INT8}))
AVX2 = Host("cpu", "Core without AMX", frozenset({"avx2", "fma", INT8}))


def trial(precision: str, speed: float, *, batch: float = 1.0, cosine: float = 1.0) -> Trial:
    return Trial(precision, speed, cosine, cosine, batch)


def test_candidates_follow_the_host_capabilities() -> None:
    assert candidates(AMX) == ("fp32", "bf16", "int8")
    # Without bf16 kernels bf16 is emulated through fp32: not worth timing.
    assert candidates(AVX2) == ("fp32", "int8")
    assert candidates(Host("cpu", "no quantized engine", frozenset())) == ("fp32",)
    assert candidates(Host("cuda:0", "H200", frozenset({"bf16"}))) == ("fp32", "fp16", "bf16")
    assert candidates(Host("cuda", "T4", frozenset())) == ("fp32", "fp16")


def test_choice_is_the_fastest_precision_the_gate_accepts() -> None:
    # bf16 on an AMX host: fastest and within the gate.
    assert choose([trial("fp32", 28), trial("bf16", 89), trial("int8", 58)]) == "bf16"
    # Where int8 is fastest but moves a vector with its batch, the next fastest wins.
    refused = trial("int8", 95, batch=GATE_BATCH - 0.0005)
    assert refused.refused is not None
    assert "batched" in refused.refused
    assert choose([trial("fp32", 30), trial("bf16", 20), refused]) == "fp32"
    assert choose([trial("fp32", 30), trial("bf16", 20), trial("int8", 95)]) == "int8"
    # Cosine to fp32 below the gate refuses a mode however fast it is.
    low = trial("bf16", 300, cosine=GATE_COSINE - 0.001)
    assert low.refused is not None
    assert "cosine" in low.refused
    assert choose([trial("fp32", 30), low]) == "fp32"


def test_choice_keeps_the_more_exact_precision_when_the_gain_is_within_noise() -> None:
    assert choose([trial("fp32", 100), trial("bf16", 105)]) == "fp32"
    assert choose([trial("fp32", 100), trial("bf16", 115)]) == "bf16"
    assert choose([trial("fp32", 10), trial("fp16", 50), trial("bf16", 52)]) == "fp16"
    assert choose([]) == "fp32"


@pytest.fixture(scope="module")
def calibrated() -> ClipEncoder:
    return ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="auto")


def test_auto_measures_every_candidate_on_the_real_model_and_takes_the_fastest_accepted(
    calibrated: ClipEncoder,
) -> None:
    choice = calibrated.calibration
    assert choice is not None
    assert not choice.cached
    host = Host.detect("cpu")
    assert [t.precision for t in choice.trials] == list(candidates(host))
    assert calibrated.precision == choice.precision == choose(choice.trials)
    fp32 = next(t for t in choice.trials if t.precision == "fp32")
    assert fp32.refused is None
    assert fp32.image_cosine > 0.99999
    # Dynamic int8 scales activations over the batch: the demo model's vectors
    # move with their batch-mates (measured 0.9993), so the gate refuses it.
    for t in choice.trials:
        if t.precision == "int8":
            assert t.refused is not None
    assert choice.precision in choice.summary()


def test_auto_on_a_host_without_bf16_kernels_never_tries_bf16() -> None:
    import torch

    from encoder.precision import calibrate

    encoder = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="fp32")
    pixels = encoder.pixel_values([PILImage.new("RGB", (64, 48), (200, 30, 30))] * 8)
    texts = encoder._tokenize(["red", "a blue square on the left"])
    choice, model, dtype = calibrate(
        encoder.model,
        host=AVX2,
        images={"pixel_values": torch.from_numpy(pixels)},
        texts=texts,
        texts_alone=[encoder._tokenize(["red"])],
    )

    assert [t.precision for t in choice.trials] == ["fp32", "int8"]
    assert choice.precision == choose(choice.trials)
    assert (model is encoder.model) == (choice.precision == "fp32")
    assert dtype == torch.float32


@pytest.mark.parametrize("batch_size", [1, 2])
def test_auto_calibrates_at_a_batch_smaller_than_its_alone_checks(
    batch_size: int, tmp_path: Path
) -> None:
    encoder = ClipEncoder(
        settings.CLIP_MODEL,
        device="cpu",
        precision="auto",
        batch_size=batch_size,
        calibration_file=tmp_path / "precision.json",
    )

    assert encoder.calibration is not None
    assert encoder.batch_size == batch_size
    red = PILImage.new("RGB", (64, 48), (200, 30, 30))
    assert encoder.encode_images([red, red, red]).shape == (3, encoder.dim)


def test_the_choice_is_cached_per_host_and_model(tmp_path: Path) -> None:
    file = tmp_path / "precision.json"
    first = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="auto", calibration_file=file)
    again = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="auto", calibration_file=file)

    assert first.calibration is not None
    assert not first.calibration.cached
    assert again.calibration is not None
    assert again.calibration.cached
    assert again.precision == first.precision
    assert [t.images_per_second for t in again.calibration.trials] == [
        t.images_per_second for t in first.calibration.trials
    ]
    key = {"model_name": settings.CLIP_MODEL, "model_config": "{}", "threads": 2, "batch": 16}
    assert cache_key(host=AMX, **key) != cache_key(host=AVX2, **key)
    assert cache_key(host=AMX, **key) != cache_key(host=AMX, **{**key, "threads": 1})
    assert cache_key(host=AMX, **key) == cache_key(host=AMX, **key)


def test_a_corrupt_calibration_file_recalibrates(tmp_path: Path) -> None:
    file = tmp_path / "precision.json"
    file.write_text("{not json")

    encoder = ClipEncoder(
        settings.CLIP_MODEL, device="cpu", precision="auto", calibration_file=file
    )

    assert encoder.calibration is not None
    assert not encoder.calibration.cached
    assert encoder.precision in file.read_text()


def pictures(count: int, seed: int) -> list[PILImage.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        low = PILImage.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
        out.append(low.resize((rng.integers(60, 300), rng.integers(60, 300)), PILImage.BICUBIC))
    return out


def pickable(model: str) -> list[str]:
    """Every precision the gate accepts on this host for `model`: what `auto` may pick."""
    choice = ClipEncoder(model, device="cpu", precision="auto").calibration
    assert choice is not None
    return [t.precision for t in choice.trials if t.refused is None]


def assert_batch_independent(encoder: ClipEncoder) -> None:
    images = pictures(20, seed=7)
    alone = np.concatenate([encoder.encode_images([image]) for image in images])
    in_sixteens = encoder.encode_images(images)
    mixed = np.concatenate(
        [encoder.encode_images(images[start:stop]) for start, stop in ((0, 5), (5, 12), (12, 20))]
    )
    reversed_ = encoder.encode_images(images[::-1])[::-1]
    for batched in (in_sixteens, mixed, reversed_):
        assert (alone * batched).sum(axis=1).min() >= 0.9999, encoder.precision


def test_the_demo_models_vectors_do_not_depend_on_the_batch_in_any_pickable_precision() -> None:
    for precision in pickable(settings.CLIP_MODEL):
        assert_batch_independent(
            ClipEncoder(settings.CLIP_MODEL, device="cpu", precision=precision)
        )


def test_b32_shaped_vectors_do_not_depend_on_the_batch_in_any_pickable_precision(
    tmp_path: Path,
) -> None:
    model = str(save_b32_shaped(tmp_path / "b32"))
    for precision in pickable(model):
        assert_batch_independent(ClipEncoder(model, device="cpu", precision=precision))
