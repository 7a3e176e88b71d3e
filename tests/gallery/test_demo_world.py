"""The synthetic world: fixed vocabulary, renderers, captions, labelled folders."""

from __future__ import annotations

import random
import re

import pytest
from PIL import Image

from demo import world


def test_vocabulary_is_fixed() -> None:
    assert world.SHAPES == ("circle", "square", "triangle", "star", "cross", "diamond")
    assert world.COLOURS == (
        "red", "green", "blue", "yellow", "orange", "purple", "black", "white",
    )  # fmt: skip
    assert world.SIZES == ("small", "large")
    assert world.POSITIONS == ("left", "right", "top", "bottom", "center")
    assert set(world.BACKGROUNDS) >= {"light", "dark"}


@pytest.mark.parametrize("renderer", sorted(world.RENDERERS))
@pytest.mark.parametrize(("width", "height"), [(64, 64), (97, 41), (40, 150)])
def test_renderers_produce_requested_size(renderer: str, width: int, height: int) -> None:
    rng = random.Random(3)
    scene = world.sample_scene(rng, 2)
    image = world.RENDERERS[renderer](scene, width, height, rng)
    assert isinstance(image, Image.Image)
    assert image.size == (width, height)
    assert image.mode == "RGB"


def test_object_is_drawn_in_its_colour() -> None:
    rng = random.Random(0)
    scene = world.sample_scene(rng, 1, colour="red", size="large", position="center",
                               background="dark")  # fmt: skip
    for render in world.RENDERERS.values():
        red, green, blue = render(scene, 80, 80, random.Random(1)).getpixel((40, 40))
        assert red > 150
        assert max(green, blue) < 90


def test_captions_use_only_the_world_vocabulary() -> None:
    rng = random.Random(7)
    allowed = world.vocabulary_words()
    for _ in range(500):
        scene = world.sample_scene(rng)
        caption = world.describe_scene(scene, rng)
        assert set(re.findall(r"[a-z]+", caption.text)) <= allowed, caption.text
        assert world.caption_matches(caption, scene), caption
        assert set(world.canonical_caption(scene).split()) <= allowed


def test_caption_matching() -> None:
    rng = random.Random(0)
    scene = world.sample_scene(rng, 1, shape="star", colour="red", size="small")
    assert world.caption_matches(world.Caption("red", (world.Mention(colour="red"),)), scene)
    blue = world.Caption("a blue star", (world.Mention(shape="star", colour="blue"),))
    assert not world.caption_matches(blue, scene)
    pair = world.Caption("two stars", (world.Mention(shape="star"),) * 2, exact_count=True)
    assert not world.caption_matches(pair, scene)
    assert world.canonical_caption(scene) == "a small red star"


def test_everything_is_deterministic_under_a_seed() -> None:
    def draw(seed: int) -> tuple[str, bytes, bytes]:
        rng = random.Random(seed)
        scene = world.sample_scene(rng)
        pil = world.render_pil(scene, 72, 60, rng).tobytes()
        other = world.render_numpy(scene, 72, 60, rng).tobytes()
        return world.caption_scene(scene, rng), pil, other

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_labelled_folder_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    samples = world.generate_scenes(6, seed=2, max_side=96)
    written = world.write_labelled_folder(tmp_path, samples)
    read = world.read_labelled_folder(tmp_path)
    assert read == written
    assert len(read) == 6
    for item, (_, caption, labels) in zip(read, samples, strict=True):
        assert item.caption == caption
        assert item.labels == labels
        with Image.open(tmp_path / item.file) as image:
            assert image.size[0] >= 64 or image.size[1] >= 64


def test_held_out_scenes_cover_every_combination() -> None:
    samples = world.held_out_scenes(repeats=1, max_side=48, min_side=40)
    combos = {(s[2]["shape"], s[2]["colour"], s[2]["size"]) for s in samples}
    assert len(samples) == len(combos) == 6 * 8 * 2


def test_read_labelled_folder_reports_bad_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "labels.jsonl").write_text('{"file": "a.png", "caption": "x"}\n{"file": 1}\n')
    with pytest.raises(ValueError, match="line 2"):
        world.read_labelled_folder(tmp_path)


def test_jitter_zero_draws_upright_undistorted_shapes() -> None:
    upright = world.sample_scene(random.Random(5), 2, jitter=0.0)
    jittered = world.sample_scene(random.Random(5), 2)
    for still, moved in zip(upright.objects, jittered.objects, strict=True):
        assert still.rotation == 0.0
        assert still.stretch == 1.0
        assert (still.shape, still.colour, still.x) == (moved.shape, moved.colour, moved.x)


def test_random_image_size_respects_aspect_limit() -> None:
    rng = random.Random(0)
    for _ in range(200):
        width, height = world.random_image_size(rng, 40, 120, max_aspect=1.25)
        assert 40 <= min(width, height) <= 120
        assert max(width, height) / min(width, height) <= 1.25 + 0.03
