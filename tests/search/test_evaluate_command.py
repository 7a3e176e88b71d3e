from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from demo import generate_scenes, read_labelled_folder, write_labelled_folder
from encoder.clip import get_encoder
from encoder.zeroshot import classify_vector


def test_evaluate_on_a_labelled_folder_prints_and_writes_every_metric(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    write_labelled_folder(folder, generate_scenes(12, seed=3, single_object=True))
    out = io.StringIO()

    call_command(
        "evaluate", "--folder", str(folder), "--json", str(tmp_path / "r.json"), stdout=out
    )

    text = out.getvalue()
    for metric in (
        "t2i/R@1",
        "t2i/R@5",
        "t2i/R@10",
        "i2t/R@5",
        "zeroshot/colour",
        "zeroshot/shape",
        "p@10/mean",
    ):
        assert metric in text
    results = json.loads((tmp_path / "r.json").read_text())["mine"]
    assert results["n_images"] == 12
    assert 0.0 <= results["t2i/R@5"] <= 1.0


def test_evaluate_scores_zero_shot_with_the_products_classifier(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    write_labelled_folder(folder, generate_scenes(24, seed=5, single_object=True))

    call_command("evaluate", "--folder", str(folder), "--json", str(tmp_path / "r.json"))

    results = json.loads((tmp_path / "r.json").read_text())["mine"]
    items = read_labelled_folder(folder)
    encoder = get_encoder()
    images = []
    for item in items:
        with Image.open(folder / item.file) as image:
            images.append(image.convert("RGB"))
    vectors = encoder.encode_images(images)
    for attribute in ("colour", "shape", "size", "position"):
        labels = [item.labels[attribute] for item in items]
        classes = sorted(set(labels))
        top = [classify_vector(encoder, vector, classes)[0][0] for vector in vectors]
        product = sum(t == label for t, label in zip(top, labels, strict=True)) / len(labels)
        assert results[f"zeroshot/{attribute}"] == pytest.approx(product), attribute


def test_evaluate_refuses_a_folder_without_labels(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"labels\.jsonl"):
        call_command("evaluate", "--folder", str(tmp_path))
