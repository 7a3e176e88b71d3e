"""Rendered sample sets: the held-out benchmark covers the whole vocabulary."""

from __future__ import annotations

import demo
from gallery.ocr import recognise
from tests.support.photos import require_ocr


def test_held_out_scenes_cover_every_combination() -> None:
    samples = demo.held_out_scenes(repeats=1, max_side=48, min_side=40)
    combos = {(s[2]["shape"], s[2]["colour"], s[2]["size"]) for s in samples}
    assert len(samples) == len(combos) == 6 * 8 * 2


def test_sign_scenes_are_one_per_word_and_reproducible() -> None:
    first = demo.sign_scenes(seed=3)
    again = demo.sign_scenes(seed=3)

    assert [labels["sign"] for _, _, labels in first] == list(demo.SIGN_WORDS)
    assert [image.tobytes() for image, _, _ in first] == [image.tobytes() for image, _, _ in again]
    assert all(labels["sign"] in caption for _, caption, labels in first)
    other = demo.sign_scenes(seed=4)
    assert first[0][0].tobytes() != other[0][0].tobytes()


def test_text_recognition_reads_the_signs() -> None:
    require_ocr()

    read = {labels["sign"]: recognise(image).text for image, _, labels in demo.sign_scenes(seed=7)}

    assert all(word in read[word] for word in demo.SIGN_WORDS), read
