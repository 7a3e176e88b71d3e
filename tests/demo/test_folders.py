"""Labelled folders: what is written reads back, and a bad line is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import demo


def test_labelled_folder_round_trip(tmp_path: Path) -> None:
    samples = demo.generate_scenes(6, seed=2, max_side=96)
    written = demo.write_labelled_folder(tmp_path, samples)
    read = demo.read_labelled_folder(tmp_path)
    assert read == written
    assert len(read) == 6
    for item, (_, caption, labels) in zip(read, samples, strict=True):
        assert item.caption == caption
        assert item.labels == labels
        with Image.open(tmp_path / item.file) as image:
            assert image.size[0] >= 64 or image.size[1] >= 64


def test_read_labelled_folder_reports_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "labels.jsonl").write_text('{"file": "a.png", "caption": "x"}\n{"file": 1}\n')
    with pytest.raises(ValueError, match="line 2"):
        demo.read_labelled_folder(tmp_path)
