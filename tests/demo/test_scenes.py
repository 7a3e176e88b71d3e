"""Scenes: the fixed vocabulary and how scenes are sampled."""

from __future__ import annotations

import random

import demo


def test_vocabulary_is_fixed() -> None:
    assert demo.SHAPES == ("circle", "square", "triangle", "star", "cross", "diamond")
    assert demo.COLOURS == (
        "red", "green", "blue", "yellow", "orange", "purple", "black", "white",
    )  # fmt: skip
    assert demo.SIZES == ("small", "large")
    assert demo.POSITIONS == ("left", "right", "top", "bottom", "center")
    assert set(demo.BACKGROUNDS) >= {"light", "dark"}


def test_jitter_zero_draws_upright_undistorted_shapes() -> None:
    upright = demo.sample_scene(random.Random(5), 2, jitter=0.0)
    jittered = demo.sample_scene(random.Random(5), 2)
    for still, moved in zip(upright.objects, jittered.objects, strict=True):
        assert still.rotation == 0.0
        assert still.stretch == 1.0
        assert (still.shape, still.colour, still.x) == (moved.shape, moved.colour, moved.x)
