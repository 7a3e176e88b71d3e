from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from encoder.clip import ClipEncoder, EncoderUnavailable, get_encoder
from encoder.precision import GATE_BATCH
from tests.factories import picture

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_the_shipped_models_load_through_from_pretrained() -> None:
    tiny = ClipEncoder(str(MODELS / "clip-tiny-random"))
    demo = ClipEncoder(str(MODELS / "demo-clip-shapes"))

    for encoder in (tiny, demo):
        assert type(encoder.model).__name__ == "CLIPModel"
    assert tiny.collection_name == f"images-clip-tiny-random-{tiny.dim}"
    assert demo.model_id == "demo-clip-shapes"
    # The real CLIP BPE: OpenAI's ids for this sentence.
    ids = tiny.processor.tokenizer("a photo of a cat")["input_ids"]
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    # The demo model's BPE is reduced to its world's words, and still tokenises anything.
    assert len(demo.processor.tokenizer) < 1000
    assert demo.encode_texts(["an unknown word: zebra"]).shape == (1, demo.dim)


def test_the_tests_use_the_demo_model() -> None:
    """Rankings, tags and thresholds across the suite are the demo model's: with another
    CLIP_MODEL they would fail for the wrong reason, so this one says why."""
    from safetensors import safe_open

    demo = MODELS / "demo-clip-shapes"
    encoder = get_encoder()

    assert Path(encoder.model_name).resolve() == demo.resolve(), encoder.model_name
    assert encoder.model_id == "demo-clip-shapes"
    assert encoder.dim == 128
    # And the weights it runs are that directory's (int8 quantizes only the linear
    # layers; bf16/fp16 round, hence the tolerance).
    with safe_open(str(demo / "model.safetensors"), "np") as weights:
        shipped = weights.get_tensor("text_model.embeddings.token_embedding.weight")
        scale = float(weights.get_tensor("logit_scale"))
    loaded = encoder.model.text_model.embeddings.token_embedding.weight
    np.testing.assert_allclose(loaded.detach().float().cpu().numpy(), shipped, rtol=1e-2, atol=1e-3)
    assert encoder.logit_scale == pytest.approx(np.exp(scale))


def test_image_and_text_batches_are_unit_vectors() -> None:
    encoder = get_encoder()

    images = encoder.encode_images([picture(), picture((0, 0, 255), (50, 70), shape="square")])
    texts = encoder.encode_texts(["a red circle", "a blue square on the left", "x"])

    assert images.shape == (2, encoder.dim)
    assert texts.shape == (3, encoder.dim)
    assert images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(images[0], images[1])


def test_explicit_int8_moves_a_vector_with_its_batch_by_a_hair_only() -> None:
    # Every precision `auto` may pick is batch-independent (test_precision.py);
    # int8, chosen explicitly, scales activations over the whole batch.
    encoder = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="int8")
    pics = [picture((i * 40, 100, 200 - i * 40)) for i in range(4)]

    batched = encoder.encode_images(pics)
    single = np.stack([encoder.encode_images([p])[0] for p in pics])

    # The demo model's closest pair measured 0.9983.
    assert (batched * single).sum(axis=1).min() >= 0.997


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_text_padding_does_not_change_the_embedding(precision: str) -> None:
    encoder = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision=precision)

    alone = encoder.encode_texts(["red"])[0]
    padded = encoder.encode_texts(["red", "a large purple star at the top of a noisy picture"])[0]

    # Padding sits after the end-of-text token the vector is pooled from, so the
    # vector stays that of the text alone: to the bit in fp32 and in int8 (which
    # encodes texts one at a time, as its activation scale would span the batch),
    # and within the gate's batch cosine in bf16, whose kernels round differently
    # by shape on CPUs without native bf16.
    assert float(alone @ padded) >= GATE_BATCH
    if precision != "bf16":
        np.testing.assert_allclose(alone, padded, atol=1e-5)


def test_missing_model_fails_with_a_message_naming_clip_model(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"

    with pytest.raises(EncoderUnavailable) as caught:
        ClipEncoder(str(missing))

    assert "CLIP_MODEL=" in caught.value.message
    assert str(missing) in caught.value.message
    assert "local directory" in caught.value.message


def test_a_siglip_checkpoint_loads_by_changing_clip_model(tmp_path: Path) -> None:
    import torch
    from transformers import (
        CLIPTokenizer,
        SiglipConfig,
        SiglipImageProcessorPil,
        SiglipModel,
        SiglipProcessor,
    )

    torch.manual_seed(0)
    config = SiglipConfig(
        text_config={
            "vocab_size": 49408,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "projection_size": 32,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
    )
    SiglipModel(config).save_pretrained(tmp_path)
    # sentencepiece is not installed here, so the tiny SigLIP borrows our CLIP tokenizer.
    SiglipProcessor(
        image_processor=SiglipImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=CLIPTokenizer.from_pretrained(MODELS / "clip-tiny-random"),
    ).save_pretrained(tmp_path)

    encoder = ClipEncoder(str(tmp_path))

    assert type(encoder.model).__name__ == "SiglipModel"
    images = encoder.encode_images([picture(), picture((0, 200, 0))])
    texts = encoder.encode_texts(["red", "a green circle"])
    assert images.shape == (2, 32)
    assert texts.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    # Fixed-length padding: a text's vector does not depend on its batch.
    np.testing.assert_allclose(texts[0], encoder.encode_texts(["red"])[0], atol=1e-5)


def test_every_forward_pass_runs_on_the_one_model_thread() -> None:
    # A second thread calling into torch gets a second OpenMP team, which
    # slowed every forward pass 2.5x on 2 cores (encoder.clip.in_model_thread).
    encoder = get_encoder()
    ran_on: set[int] = set()

    def record(*_: object) -> None:
        ran_on.add(threading.get_ident())

    hooks = [
        encoder.model.text_model.register_forward_pre_hook(record),
        encoder.model.vision_model.register_forward_pre_hook(record),
    ]
    try:
        callers = {threading.get_ident()}
        encoder.encode_texts(["a red circle"])
        with ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(lambda: (threading.get_ident(), encoder.encode_texts(["a star"])))
                for _ in range(6)
            ] + [
                pool.submit(lambda: (threading.get_ident(), encoder.encode_images([picture()])))
                for _ in range(6)
            ]
            callers |= {future.result()[0] for future in futures}
    finally:
        for hook in hooks:
            hook.remove()
    assert len(callers) >= 2
    assert len(ran_on) == 1
    assert not ran_on & callers


def test_a_forked_child_encodes_on_its_own_model_thread() -> None:
    # A prefork Celery worker inherits the loaded encoder but not the model thread.
    encoder = get_encoder()
    expected = encoder.encode_texts(["a green triangle"])[0]
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child() -> None:
        results.put(encoder.encode_texts(["a green triangle"])[0].tolist())

    process = context.Process(target=child)
    process.start()
    process.join(timeout=120)
    if process.is_alive():
        process.kill()
        process.join()
    assert process.exitcode == 0, "the child hung or failed"
    assert np.allclose(results.get(timeout=5), expected, atol=1e-5)
