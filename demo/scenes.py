"""The shapes world's vocabulary and its scenes: what to draw, before any pixel.

A :class:`Scene` holds one or two :class:`SceneObject` on a named background,
and sometimes a :class:`Sign`, a plaque carrying words (from :data:`SIGN_WORDS`),
so that a gallery shows search by the words in its pictures.  Each object
has a named shape, colour, size and position; the values actually drawn vary
*continuously* around those names (centre, scale, rotation, stretch, tint), so
a model has to learn the concepts rather than a handful of exact pictures.
Everything here is in the unit frame; pixels are the renderers' job.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond")
COLOURS: tuple[str, ...] = (
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "purple",
    "black",
    "white",
)
SIZES: tuple[str, ...] = ("small", "large")
POSITIONS: tuple[str, ...] = ("left", "right", "top", "bottom", "center")
BACKGROUNDS: tuple[str, ...] = ("light", "dark", "noisy", "gradient")
# What the demo world's signs and labels say: short, common words a gallery's
# text search would be asked for, one of them two words with a digit.
SIGN_WORDS: tuple[str, ...] = ("EXIT", "CAFE", "INVOICE", "HOTEL", "GATE B12", "SALE")
# A sign's plaque and ink, as (plaque, ink) names: dark ink on a light plaque.
# Light on dark defeats Tesseract's layout analysis at these sizes (white ink
# is read as a picture, and so is a light plaque on a dark ground), so sign
# scenes keep both light.
SIGN_COLOURS: tuple[tuple[str, str], ...] = (
    ("white", "black"),
    ("yellow", "black"),
    ("orange", "black"),
    ("sky", "black"),
)


# Named positions are regions of the unit frame: (x range, y range) of the centre.
_POSITION_BOXES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "left": ((0.10, 0.34), (0.25, 0.75)),
    "right": ((0.66, 0.90), (0.25, 0.75)),
    "top": ((0.25, 0.75), (0.10, 0.34)),
    "bottom": ((0.25, 0.75), (0.66, 0.90)),
    "center": ((0.40, 0.60), (0.40, 0.60)),
}
# Object diameter as a fraction of the frame's shorter side.
_SIZE_RANGES: dict[str, tuple[float, float]] = {"small": (0.2, 0.3), "large": (0.44, 0.64)}
_TWO_OBJECT_LAYOUTS: tuple[tuple[str, str], ...] = (("left", "right"), ("top", "bottom"))


@dataclass(frozen=True)
class SceneObject:
    """One object: its named attributes plus the continuous values actually drawn.

    ``x``/``y`` are the centre in the unit frame, ``scale`` the diameter relative
    to the frame's shorter side, ``rotation`` degrees, ``stretch`` the x/y aspect
    of the shape and ``tint`` a jitter in [-1, 1]^3 that each renderer maps onto
    its own palette (hue, saturation, value), so colour varies around its name.
    """

    shape: str
    colour: str
    size: str
    position: str
    x: float = 0.5
    y: float = 0.5
    scale: float = 0.5
    rotation: float = 0.0
    stretch: float = 1.0
    tint: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def labels(self) -> dict[str, str]:
        """Return the named attributes, the labels a caption can talk about."""
        return {
            "shape": self.shape,
            "colour": self.colour,
            "size": self.size,
            "position": self.position,
        }


@dataclass(frozen=True)
class Sign:
    """A plaque carrying ``text`` in large capitals, drawn in front of the objects.

    ``x``/``y`` are its centre in the unit frame, ``width`` its width as a
    fraction of the frame's (the text is sized to fill it), ``rotation``
    degrees and ``colours`` a pair from :data:`SIGN_COLOURS`.  Only the
    training renderer (:func:`demo.render_pil`) draws signs.
    """

    text: str
    x: float = 0.5
    y: float = 0.5
    width: float = 0.8
    rotation: float = 0.0
    colours: tuple[str, str] = ("white", "black")


@dataclass(frozen=True)
class Scene:
    """One or two objects on a background, drawn back to front, then the sign if any."""

    objects: tuple[SceneObject, ...]
    background: str = "light"
    sign: Sign | None = None

    def labels(self) -> dict[str, str]:
        """Labels for a labelled folder; object attributes only for one-object scenes."""
        labels = {"background": self.background, "count": str(len(self.objects))}
        if len(self.objects) == 1:
            labels.update(self.objects[0].labels())
        if self.sign is not None:
            labels["sign"] = self.sign.text
        return labels


def _sample_object(
    rng: random.Random,
    *,
    shape: str | None,
    colour: str | None,
    size: str | None,
    position: str | None,
    max_scale: float = 1.0,
    jitter: float = 1.0,
) -> SceneObject:
    """Draw one object's names, then its continuous values around those names."""
    shape = shape or rng.choice(SHAPES)
    colour = colour or rng.choice(COLOURS)
    size = size or rng.choice(SIZES)
    position = position or rng.choice(POSITIONS)
    low, high = _SIZE_RANGES[size]
    scale = min(rng.uniform(low, high), max_scale)
    (x_low, x_high), (y_low, y_high) = _POSITION_BOXES[position]
    radius = scale / 2 + 0.02
    x = min(max(rng.uniform(x_low, x_high), radius), 1 - radius)
    y = min(max(rng.uniform(y_low, y_high), radius), 1 - radius)
    return SceneObject(
        shape=shape,
        colour=colour,
        size=size,
        position=position,
        x=x,
        y=y,
        scale=scale,
        rotation=rng.uniform(-25.0, 25.0) * jitter,
        stretch=1.0 + rng.uniform(-0.12, 0.12) * jitter,
        tint=(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)),
    )


def sample_scene(
    rng: random.Random,
    n_objects: int | None = None,
    *,
    shape: str | None = None,
    colour: str | None = None,
    size: str | None = None,
    position: str | None = None,
    background: str | None = None,
    two_object_probability: float = 0.3,
    jitter: float = 1.0,
) -> Scene:
    """Sample a random scene; the keyword names pin the first object's attributes.

    Two objects get positions that do not collide (left/right, top/bottom, ...)
    and are capped in scale so that both stay visible.  ``jitter`` scales the
    rotation and stretch (0 draws upright, undistorted shapes: a training
    curriculum starts there); it does not change which random numbers are drawn.
    """
    if n_objects is None:
        n_objects = 2 if rng.random() < two_object_probability else 1
    if n_objects not in (1, 2):
        raise ValueError("scenes hold one or two objects")
    background = background or rng.choice(BACKGROUNDS)
    if n_objects == 1:
        obj = _sample_object(
            rng, shape=shape, colour=colour, size=size, position=position, jitter=jitter
        )
        return Scene(objects=(obj,), background=background)
    layouts = [lay for lay in _TWO_OBJECT_LAYOUTS if position in (None, lay[0], lay[1])]
    if not layouts:
        raise ValueError(f"two-object scenes use left/right or top/bottom, not {position!r}")
    layout = list(rng.choice(layouts))
    if position is not None and layout[0] != position:
        layout.reverse()
    elif position is None:
        rng.shuffle(layout)
    first = _sample_object(
        rng, shape=shape, colour=colour, size=size, position=layout[0], max_scale=0.4, jitter=jitter
    )
    second = _sample_object(
        rng, shape=None, colour=None, size=None, position=layout[1], max_scale=0.4, jitter=jitter
    )
    return Scene(objects=(first, second), background=background)


def sample_sign_scene(rng: random.Random, text: str, *, background: str = "light") -> Scene:
    """A scene with a sign reading ``text`` across its upper half and a small shape below it.

    The sign fills most of the frame's width, upright within a few degrees,
    on a light ground (see :data:`SIGN_COLOURS`), so that text recognition
    reads it at the demo gallery's picture sizes.
    """
    obj = _sample_object(rng, shape=None, colour=None, size="small", position="bottom")
    sign = Sign(
        text=text,
        x=rng.uniform(0.46, 0.54),
        y=rng.uniform(0.3, 0.38),
        width=rng.uniform(0.78, 0.88),
        rotation=rng.uniform(-3.0, 3.0),
        colours=rng.choice(SIGN_COLOURS),
    )
    return Scene(objects=(obj,), background=background, sign=sign)
