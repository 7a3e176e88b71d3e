"""Metric functions on hand-made similarity matrices whose answers are known, and
zero-shot scoring that is the product's classifier."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from demo import COLOURS, SHAPES, Sample, evaluate, format_table, held_out_scenes
from demo.evaluation import (
    caption_relevance,
    precision_at_k,
    prompt_label_vectors,
    recall_at_k,
    zero_shot_accuracy,
    zero_shot_predict,
)
from encoder.clip import ClipEncoder, get_encoder
from encoder.zeroshot import PROMPT_TEMPLATES, classify_vector, label_vectors

ROOT = Path(__file__).resolve().parents[2]


def test_recall_identity_ground_truth() -> None:
    # Query 0 ranks its item first, query 1 second, query 2 last.
    sim = np.array(
        [
            [0.9, 0.1, 0.0],
            [0.8, 0.5, 0.1],
            [0.7, 0.6, 0.1],
        ]
    )
    assert recall_at_k(sim, 1) == pytest.approx(1 / 3)
    assert recall_at_k(sim, 2) == pytest.approx(2 / 3)
    assert recall_at_k(sim, 3) == pytest.approx(1.0)
    assert recall_at_k(sim, 10) == pytest.approx(1.0)


def test_recall_with_relevance_matrix_and_transpose() -> None:
    sim = np.array([[0.1, 0.9, 0.2], [0.3, 0.2, 0.1]])  # 2 texts x 3 images
    relevant = np.array([[True, False, True], [False, True, False]])
    # Text 0 ranks image 1 (wrong) then image 2 (right); text 1 ranks image 0
    # (wrong) then image 1 (right).
    assert recall_at_k(sim, 1, relevant) == pytest.approx(0.0)
    assert recall_at_k(sim, 2, relevant) == pytest.approx(1.0)
    # Image->text: image 0 prefers text 1 (wrong); image 1 text 0 (wrong); image 2 text 0.
    assert recall_at_k(sim.T, 1, relevant.T) == pytest.approx(1 / 3)


def test_recall_skips_queries_without_answer_and_rejects_bad_shapes() -> None:
    sim = np.array([[1.0, 0.0], [0.0, 1.0]])
    relevant = np.array([[True, False], [False, False]])
    assert recall_at_k(sim, 1, relevant) == 1.0
    assert math.isnan(recall_at_k(sim, 1, np.zeros((2, 2), dtype=bool)))
    with pytest.raises(ValueError, match="relevant"):
        recall_at_k(np.zeros((2, 3)), 1)


def test_precision_caps_k_at_number_of_relevant_items() -> None:
    sim = np.array([[0.9, 0.8, 0.1, 0.7]])
    relevant = np.array([[True, False, True, False]])
    # Two relevant items, so precision@10 looks at the top 2: one hit of two.
    assert precision_at_k(sim, relevant, 10) == pytest.approx(0.5)
    assert precision_at_k(sim, relevant, 1) == pytest.approx(1.0)


def test_caption_relevance_matches_identical_captions() -> None:
    relevant = caption_relevance(["a red circle", "A  red circle", "a blue star"])
    assert relevant.tolist() == [
        [True, True, False],
        [True, True, False],
        [False, False, True],
    ]


def _fake_text_encoder(texts: list[str]) -> np.ndarray:
    """Embeds by which axis word a text contains: red=x, blue=y, anything else=z."""
    rows = []
    for text in texts:
        if "red" in text:
            rows.append([1.0, 0.0, 0.0])
        elif "blue" in text:
            rows.append([0.0, 1.0, 0.0])
        else:
            rows.append([0.0, 0.0, 1.0])
    return np.array(rows)


def test_label_vectors_average_the_products_templates_and_normalise() -> None:
    seen: list[str] = []

    def encode_texts(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return _fake_text_encoder(texts)

    emb = prompt_label_vectors(encode_texts)(["red", "blue"])
    assert seen == [template.format(c) for c in ("red", "blue") for template in PROMPT_TEMPLATES]
    assert emb.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0)
    assert emb[0, 0] > 0
    assert emb[0, 1] == 0
    assert emb[1, 1] > 0


def test_zero_shot_accuracy() -> None:
    images = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.1, 0.0]])
    labels = ["red", "blue", "blue"]
    vectors = prompt_label_vectors(_fake_text_encoder)
    assert zero_shot_accuracy(images, labels, ["red", "blue"], vectors) == pytest.approx(2 / 3)


def test_evaluate_with_perfect_encoders() -> None:
    colours = ["red", "blue", "red", "blue"]
    samples = [
        Sample(index, f"a {colour} thing", {"colour": colour, "background": "dark"})
        for index, colour in enumerate(colours)
    ]

    def encode_images(images: list[int]) -> np.ndarray:
        return _fake_text_encoder([colours[i] for i in images])

    results = evaluate(encode_images, _fake_text_encoder, samples, ks=(1, 2))
    assert results["n_images"] == 4
    assert results["t2i/R@1"] == 1.0
    assert results["i2t/R@1"] == 1.0
    assert results["zeroshot/colour"] == 1.0
    assert results["p@10/colour"] == 1.0
    assert "zeroshot/background" not in results  # constant, and not content anyway
    table = format_table({"a": results, "b": results})
    assert "t2i/R@1" in table
    assert "1.000" in table
    assert format_table(results).splitlines()[0].split() == ["metric", "value"]


@pytest.fixture(scope="module")
def clip() -> ClipEncoder:
    """The tests' CLIP_MODEL, the demo model (pyproject.toml, [tool.pytest_env])."""
    return get_encoder()


@pytest.mark.parametrize("classes", [COLOURS, SHAPES], ids=["colours", "shapes"])
def test_label_vectors_without_a_clip_encoder_are_the_products(
    clip: ClipEncoder, classes: tuple[str, ...]
) -> None:
    # The trainer's live model is no ClipEncoder; its evaluation must still score
    # the prompts and the ensembling that the product classifies with.
    ours = prompt_label_vectors(clip.encode_texts)(classes)

    np.testing.assert_allclose(ours, label_vectors(clip, classes), atol=1e-5)


def test_zero_shot_predictions_are_the_product_classifiers_top_labels(clip: ClipEncoder) -> None:
    samples = held_out_scenes(seed=7, repeats=1, min_side=40, max_side=120)
    image_emb = clip.encode_images([image for image, _, _ in samples])
    classes = sorted(SHAPES)

    predicted = zero_shot_predict(image_emb, classes, partial(label_vectors, clip))

    top = [classify_vector(clip, vector, classes)[0][0] for vector in image_emb]
    assert [classes[i] for i in predicted] == top


def test_the_kit_imports_without_django_settings() -> None:
    # The trainer runs the kit, evaluation included, outside Django.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import demo, django.conf; assert not django.conf.settings.configured"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
