"""Captions: only the world's words, and each one fits the scene it describes."""

from __future__ import annotations

import random
import re

import demo


def test_captions_use_only_the_world_vocabulary() -> None:
    rng = random.Random(7)
    allowed = demo.vocabulary_words()
    for _ in range(500):
        scene = demo.sample_scene(rng)
        caption = demo.describe_scene(scene, rng)
        assert set(re.findall(r"[a-z]+", caption.text)) <= allowed, caption.text
        assert demo.caption_matches(caption, scene), caption
        assert set(demo.canonical_caption(scene).split()) <= allowed


def test_caption_matching() -> None:
    rng = random.Random(0)
    scene = demo.sample_scene(rng, 1, shape="star", colour="red", size="small")
    assert demo.caption_matches(demo.Caption("red", (demo.Mention(colour="red"),)), scene)
    blue = demo.Caption("a blue star", (demo.Mention(shape="star", colour="blue"),))
    assert not demo.caption_matches(blue, scene)
    pair = demo.Caption("two stars", (demo.Mention(shape="star"),) * 2, exact_count=True)
    assert not demo.caption_matches(pair, scene)
    assert demo.canonical_caption(scene) == "a small red star"
