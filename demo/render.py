"""What both renderers share: their signature, picture sizes, pixel frames and HSV colour.

The two renderers (:mod:`demo.pil_renderer`, :mod:`demo.numpy_renderer`) are
independent on purpose, so that evaluating on one the model was not trained on
checks that it generalises beyond one renderer's pixels; they share only the
mapping from the unit frame to pixels and the clamped HSV conversion here.
"""

from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Callable

from PIL import Image

from demo.scenes import Scene, SceneObject

Renderer = Callable[[Scene, int, int, random.Random], Image.Image]
"""``render(scene, width, height, rng)``: an RGB image of exactly width x height."""


def random_image_size(
    rng: random.Random, low: int = 48, high: int = 256, max_aspect: float = 4 / 3
) -> tuple[int, int]:
    """A varied resolution and aspect ratio (3:4 to 4:3 by default), as galleries have.

    Models that squash images to a square see shapes distorted by the aspect
    ratio, so it is kept moderate.
    """
    short = rng.randint(low, high)
    aspect = math.exp(rng.uniform(-math.log(max_aspect), math.log(max_aspect)))
    long_side = min(round(short * max(aspect, 1 / aspect)), 2 * high)
    return (long_side, short) if aspect >= 1 else (short, long_side)


def object_frame(obj: SceneObject, width: int, height: int) -> tuple[float, float, float]:
    """Centre (cx, cy) and radius in pixels; radius is relative to the shorter side."""
    return obj.x * width, obj.y * height, obj.scale * min(width, height) / 2


def hsv_rgb(hue: float, sat: float, val: float) -> tuple[float, float, float]:
    """RGB in [0, 1]; the hue wraps and saturation and value are clamped, as tints overshoot."""
    return colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))
