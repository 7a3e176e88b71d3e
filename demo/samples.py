"""Rendered samples, ``(image, caption, labels)``: a demo gallery, its signs and the held-out
benchmark."""

from __future__ import annotations

import random
from collections.abc import Sequence

from PIL import Image

from demo.captions import canonical_caption, caption_scene
from demo.numpy_renderer import render_numpy
from demo.pil_renderer import render_pil
from demo.render import Renderer, random_image_size
from demo.scenes import COLOURS, SHAPES, SIGN_WORDS, SIZES, sample_scene, sample_sign_scene

# By name, for callers that pick one: the training renderer and the held-out one.
RENDERERS: dict[str, Renderer] = {"pil": render_pil, "numpy": render_numpy}


def generate_scenes(
    count: int,
    *,
    seed: int = 0,
    renderer: str = "pil",
    single_object: bool = False,
    min_side: int = 64,
    max_side: int = 256,
) -> list[tuple[Image.Image, str, dict[str, str]]]:
    """Render ``count`` random scenes at varied sizes: (image, caption, labels).

    Single-object scenes get their canonical caption (what evaluation retrieves
    by); mixed scenes get a varied natural caption, as a demo gallery should.
    """
    rng = random.Random(seed)
    render = RENDERERS[renderer]
    samples = []
    for _ in range(count):
        scene = sample_scene(rng, 1 if single_object else None)
        width, height = random_image_size(rng, min_side, max_side)
        image = render(scene, width, height, rng)
        caption = canonical_caption(scene) if single_object else caption_scene(scene, rng)
        samples.append((image, caption, scene.labels()))
    return samples


def sign_scenes(
    words: Sequence[str] = SIGN_WORDS,
    *,
    seed: int = 0,
    min_side: int = 200,
    max_side: int = 256,
) -> list[tuple[Image.Image, str, dict[str, str]]]:
    """One scene per word: a sign reading it above a small shape, by the training renderer.

    The demo gallery appends these to :func:`generate_scenes`' scenes, so that
    search by the words in a picture has something to find; their own random
    stream (from ``seed``) leaves those scenes as they were.  The sides are
    the upper end of the gallery's, large enough for text recognition to read
    the word.  Labels carry ``sign`` (the word); captions name it and the shape.
    """
    rng = random.Random(f"signs-{seed}")
    samples = []
    for word in words:
        scene = sample_sign_scene(rng, word)
        width, height = random_image_size(rng, min_side, max_side)
        image = render_pil(scene, width, height, rng)
        caption = f'{canonical_caption(scene)} below a sign that says "{word}"'
        samples.append((image, caption, scene.labels()))
    return samples


def held_out_scenes(
    *,
    seed: int = 1234,
    repeats: int = 1,
    renderer: str = "numpy",
    min_side: int = 40,
    max_side: int = 200,
) -> list[tuple[Image.Image, str, dict[str, str]]]:
    """Every shape x colour x size once per repeat, one object each, canonical captions.

    This is the benchmark the demo model is held to: random positions,
    backgrounds, resolutions and aspect ratios, from a seed training never uses.
    """
    rng = random.Random(seed)
    render = RENDERERS[renderer]
    samples = []
    for _ in range(repeats):
        for shape in SHAPES:
            for colour in COLOURS:
                for size in SIZES:
                    scene = sample_scene(rng, 1, shape=shape, colour=colour, size=size)
                    width, height = random_image_size(rng, min_side, max_side)
                    image = render(scene, width, height, rng)
                    samples.append((image, canonical_caption(scene), scene.labels()))
    return samples
