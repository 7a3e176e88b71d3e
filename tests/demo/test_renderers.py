"""Both renderers: the requested size, the named colour, reproducible under a seed."""

from __future__ import annotations

import random

import pytest
from PIL import Image

import demo


@pytest.mark.parametrize("renderer", sorted(demo.RENDERERS))
@pytest.mark.parametrize(("width", "height"), [(64, 64), (97, 41), (40, 150)])
def test_renderers_produce_requested_size(renderer: str, width: int, height: int) -> None:
    rng = random.Random(3)
    scene = demo.sample_scene(rng, 2)
    image = demo.RENDERERS[renderer](scene, width, height, rng)
    assert isinstance(image, Image.Image)
    assert image.size == (width, height)
    assert image.mode == "RGB"


def test_object_is_drawn_in_its_colour() -> None:
    rng = random.Random(0)
    scene = demo.sample_scene(rng, 1, colour="red", size="large", position="center",
                              background="dark")  # fmt: skip
    for render in demo.RENDERERS.values():
        red, green, blue = render(scene, 80, 80, random.Random(1)).getpixel((40, 40))
        assert red > 150
        assert max(green, blue) < 90


def test_everything_is_deterministic_under_a_seed() -> None:
    def draw(seed: int) -> tuple[str, bytes, bytes]:
        rng = random.Random(seed)
        scene = demo.sample_scene(rng)
        pil = demo.render_pil(scene, 72, 60, rng).tobytes()
        other = demo.render_numpy(scene, 72, 60, rng).tobytes()
        return demo.caption_scene(scene, rng), pil, other

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_random_image_size_respects_aspect_limit() -> None:
    rng = random.Random(0)
    for _ in range(200):
        width, height = demo.random_image_size(rng, 40, 120, max_aspect=1.25)
        assert 40 <= min(width, height) <= 120
        assert max(width, height) / min(width, height) <= 1.25 + 0.03
