"""Metric functions on hand-made similarity matrices whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from demo.evaluation import (
    Sample,
    caption_relevance,
    class_embeddings,
    evaluate,
    format_table,
    precision_at_k,
    recall_at_k,
    zero_shot_accuracy,
)


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


def test_class_embeddings_average_templates_and_normalise() -> None:
    emb = class_embeddings(["red", "blue"], ["{}", "a {} thing", "plain"], _fake_text_encoder)
    assert emb.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0)
    assert emb[0, 0] > 0
    assert emb[0, 1] == 0
    assert emb[1, 1] > 0


def test_zero_shot_accuracy() -> None:
    images = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.1, 0.0]])
    labels = ["red", "blue", "blue"]
    assert zero_shot_accuracy(images, labels, ["red", "blue"], _fake_text_encoder) == (
        pytest.approx(2 / 3)
    )


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
