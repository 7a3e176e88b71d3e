"""The synthetic shapes world that the demo CLIP model is trained and evaluated on.

Pretrained CLIP weights cannot be downloaded here, so the repo ships a small CLIP
trained on this world (``scripts/train_demo_clip.py``).  The same module feeds the
``demo`` command (a gallery of a few hundred scenes), the ``evaluate`` command and
the tests, so every consumer agrees on one fixed vocabulary.

World
    A :class:`Scene` holds one or two :class:`SceneObject` on a background.  Each
    object has a named shape, colour, size and position; the pixels vary
    *continuously* around those names (centre, scale, rotation, stretch, tint), so
    a model has to learn the concepts rather than a handful of exact pictures.

Two independent renderers
    :func:`render_pil` (the training renderer) draws polygons with PIL on a
    supersampled canvas.  :func:`render_numpy` is written from scratch with signed
    distance functions, analytic-coverage antialiasing, its own palette, outlines
    and its own backgrounds.  It is only used for held-out evaluation, to check
    that a model generalises beyond the pixels of the renderer it was trained on.

Labelled folder format (what ``evaluate`` accepts for any user data)
    A folder of images plus ``labels.jsonl``, one JSON object per line::

        {"file": "0001.png", "caption": "a large red circle",
         "labels": {"shape": "circle", "colour": "red", "size": "large"}}

    ``file`` is relative to the folder, ``caption`` is a free-text description
    and ``labels`` (optional) maps attribute names to class names.  Any image
    format PIL reads is fine.  See :func:`write_labelled_folder` and
    :func:`read_labelled_folder`.
"""

from __future__ import annotations

import colorsys
import io
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

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

PLURALS: dict[str, str] = {
    "circle": "circles",
    "square": "squares",
    "triangle": "triangles",
    "star": "stars",
    "cross": "crosses",
    "diamond": "diamonds",
}
POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("on the left",),
    "right": ("on the right",),
    "top": ("at the top",),
    "bottom": ("at the bottom",),
    "center": ("in the center", "in the middle"),
}
CAPTION_PREFIXES: tuple[str, ...] = (
    "a photo of ",
    "an image of ",
    "a picture of ",
    "a drawing of ",
    "a rendering of ",
)
GENERIC_NOUNS: tuple[str, ...] = ("shape", "object", "thing")

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
class Scene:
    """One or two objects on a background, drawn back to front."""

    objects: tuple[SceneObject, ...]
    background: str = "light"

    def labels(self) -> dict[str, str]:
        """Labels for a labelled folder; object attributes only for one-object scenes."""
        labels = {"background": self.background, "count": str(len(self.objects))}
        if len(self.objects) == 1:
            labels.update(self.objects[0].labels())
        return labels


@dataclass(frozen=True)
class Mention:
    """What a caption says about one object; ``None`` means "not mentioned"."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    position: str | None = None

    def fits(self, obj: SceneObject) -> bool:
        """True when every attribute the caption states holds for ``obj``."""
        return all(
            said is None or said == actual
            for said, actual in (
                (self.shape, obj.shape),
                (self.colour, obj.colour),
                (self.size, obj.size),
                (self.position, obj.position),
            )
        )


@dataclass(frozen=True)
class Caption:
    """A caption's text and its meaning, so training can tell which scenes it fits.

    ``exact_count`` is set when the caption fixes how many objects there are
    ("two stars", "a circle and a square"); a caption about one object
    ("a red circle") also fits a two-object scene that contains one.
    """

    text: str
    mentions: tuple[Mention, ...] = field(default_factory=tuple)
    exact_count: bool = False


# --------------------------------------------------------------------------- scenes


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


# ------------------------------------------------------------------------- captions


def _article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def _noun_phrase(mention: Mention, rng: random.Random) -> str:
    """Noun phrase such as "a large red circle", "an orange shape" or "a small star"."""
    words = [w for w in (mention.size, mention.colour) if w is not None]
    words.append(mention.shape or rng.choice(GENERIC_NOUNS))
    return f"{_article(words[0])} {' '.join(words)}"


def _position_phrase(position: str, rng: random.Random) -> str:
    return rng.choice(POSITION_PHRASES[position])


def _pick_attributes(obj: SceneObject, rng: random.Random, *, alone: bool) -> Mention:
    """Choose which attributes a caption mentions; most name shape and colour."""
    patterns: list[tuple[tuple[str, ...], float]] = [
        (("size", "colour", "shape"), 3.0),
        (("colour", "shape"), 3.0),
        (("size", "shape"), 0.8),
        (("shape",), 1.2),
        (("colour",), 0.8 if alone else 0.2),
        (("size", "colour"), 0.4),
    ]
    names, weights = zip(*patterns, strict=True)
    chosen = rng.choices(names, weights=weights)[0]
    values = {name: getattr(obj, name) for name in chosen}
    return Mention(**values)


def _single_caption(obj: SceneObject, rng: random.Random) -> Caption:
    """Caption for one object, from bare words ("red") to full phrases."""
    mention = _pick_attributes(obj, rng, alone=True)
    bare = [w for w in (mention.size, mention.colour, mention.shape) if w is not None]
    roll = rng.random()
    if len(bare) == 1 and mention.size is None and roll < 0.35:
        return Caption(bare[0], (mention,))
    if mention.colour is not None and mention.shape is not None and roll < 0.08:
        text = f"{_article(mention.shape)} {mention.shape} that is {mention.colour}"
        return Caption(text, (mention,))
    if mention.colour is not None and mention.shape is None and roll < 0.2:
        return Caption(f"something {mention.colour}", (mention,))
    text = _noun_phrase(mention, rng)
    if rng.random() < 0.3:
        mention = Mention(mention.shape, mention.colour, mention.size, obj.position)
        text = f"{text} {_position_phrase(obj.position, rng)}"
    return Caption(_decorate(text, rng), (mention,))


def _decorate(text: str, rng: random.Random) -> str:
    """Sometimes add "a photo of" style prefixes or a full stop, as people write."""
    if rng.random() < 0.25:
        text = rng.choice(CAPTION_PREFIXES) + text
    if rng.random() < 0.2:
        text += "."
    return text


def _pair_caption(scene: Scene, rng: random.Random) -> Caption:
    """Caption for a two-object scene: "two purple crosses", "a red circle and ..."."""
    first, second = scene.objects
    if first.shape == second.shape and rng.random() < 0.7:
        same_colour = first.colour == second.colour
        colour = first.colour if same_colour and rng.random() < 0.8 else None
        mention = Mention(shape=first.shape, colour=colour)
        text = " ".join(w for w in ("two", colour, PLURALS[first.shape]) if w)
        return Caption(_decorate(text, rng), (mention, mention), exact_count=True)
    if first.colour == second.colour and rng.random() < 0.3:
        mention = Mention(colour=first.colour)
        text = f"two {first.colour} {rng.choice(('shapes', 'objects'))}"
        return Caption(_decorate(text, rng), (mention, mention), exact_count=True)
    if rng.random() < 0.12:
        return _single_caption(rng.choice(scene.objects), rng)
    mentions = [_pick_attributes(obj, rng, alone=False) for obj in scene.objects]
    with_positions = rng.random() < 0.3
    phrases = []
    for index, (mention, obj) in enumerate(zip(mentions, scene.objects, strict=True)):
        phrase = _noun_phrase(mention, rng)
        if with_positions:
            mentions[index] = Mention(mention.shape, mention.colour, mention.size, obj.position)
            phrase = f"{phrase} {_position_phrase(obj.position, rng)}"
        phrases.append(phrase)
    joiner = " and " if with_positions or rng.random() < 0.75 else " next to "
    return Caption(_decorate(joiner.join(phrases), rng), tuple(mentions), exact_count=True)


def describe_scene(scene: Scene, rng: random.Random) -> Caption:
    """A varied natural caption together with what it claims (see :class:`Caption`)."""
    if len(scene.objects) == 1:
        return _single_caption(scene.objects[0], rng)
    return _pair_caption(scene, rng)


def caption_scene(scene: Scene, rng: random.Random) -> str:
    """A varied natural caption: "a small blue square on the left", "red", ..."""
    return describe_scene(scene, rng).text


def canonical_caption(scene: Scene) -> str:
    """The one deterministic caption: "a large red circle" (and "... and a ...")."""
    phrases = [f"{_article(obj.size)} {obj.size} {obj.colour} {obj.shape}" for obj in scene.objects]
    return " and ".join(phrases)


def caption_matches(caption: Caption, scene: Scene) -> bool:
    """Does ``caption`` truthfully describe ``scene``?  Used to find every true pair."""
    objects = scene.objects
    mentions = caption.mentions
    if caption.exact_count and len(mentions) != len(objects):
        return False
    if len(mentions) == 1:
        return any(mentions[0].fits(obj) for obj in objects)
    if len(mentions) == 2 and len(objects) == 2:
        a, b = mentions
        return (a.fits(objects[0]) and b.fits(objects[1])) or (
            a.fits(objects[1]) and b.fits(objects[0])
        )
    return False


def vocabulary_words() -> set[str]:
    """Every word a caption can use: what a reduced tokenizer must keep whole."""
    words = set(SHAPES) | set(COLOURS) | set(SIZES) | set(PLURALS.values())
    words |= set(GENERIC_NOUNS) | {"a", "an", "and", "next", "to", "two", "that", "is"}
    words |= {"something", "shapes", "objects"}
    for phrases in POSITION_PHRASES.values():
        for phrase in phrases:
            words.update(phrase.split())
    for prefix in CAPTION_PREFIXES:
        words.update(prefix.split())
    return words


# ------------------------------------------------------------------ shared geometry


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


def _object_frame(obj: SceneObject, width: int, height: int) -> tuple[float, float, float]:
    """Centre (cx, cy) and radius in pixels; radius is relative to the shorter side."""
    return obj.x * width, obj.y * height, obj.scale * min(width, height) / 2


def _hsv_rgb(hue: float, sat: float, val: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))


# ------------------------------------------------------------- renderer 1: PIL draw

# (hue, saturation, value) of each colour name for the training renderer.
_PIL_PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.0, 0.85, 0.88),
    "orange": (0.075, 0.9, 0.95),
    "yellow": (0.155, 0.85, 0.95),
    "green": (0.33, 0.8, 0.72),
    "blue": (0.62, 0.82, 0.88),
    "purple": (0.79, 0.7, 0.72),
}


def _pil_colour(obj: SceneObject) -> tuple[int, int, int]:
    """Map a colour name plus the object's tint to RGB, jittered continuously."""
    th, ts, tv = obj.tint
    if obj.colour == "black":
        rgb = _hsv_rgb(th, 0.2 + 0.2 * ts, 0.06 + 0.05 * tv)
    elif obj.colour == "white":
        rgb = _hsv_rgb(th, 0.04 + 0.03 * ts, 0.97 + 0.03 * tv)
    else:
        hue, sat, val = _PIL_PALETTE[obj.colour]
        rgb = _hsv_rgb(hue + 0.022 * th, sat + 0.12 * ts, val + 0.1 * tv)
    red, green, blue = (round(c * 255) for c in rgb)
    return red, green, blue


def _unit_polygon(
    shape: str, variation: float = 0.0, rng: random.Random | None = None
) -> list[tuple[float, float]]:
    """Outline of ``shape`` with radius about 1 around the origin, y pointing down.

    ``variation`` (0 to 1, with ``rng``) moves the shape's proportions around
    their canonical values (a star's inner radius, a cross's arm width, a
    diamond's width), so a model trained on these outlines learns the shape and
    not one drawing of it.
    """

    def vary(value: float, spread: float) -> float:
        if rng is None or variation <= 0:
            return value
        return value + rng.uniform(-spread, spread) * variation

    if shape == "circle":
        return [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 72, False)]
    if shape == "square":
        half = vary(0.85, 0.08)
        return [(-half, -half), (half, -half), (half, half), (-half, half)]
    if shape == "triangle":
        angles = (-90.0, 30.0, 150.0)
        lift, spread = vary(0.2, 0.1), vary(1.0, 0.1)
        return [
            (spread * math.cos(math.radians(a)), math.sin(math.radians(a)) + lift) for a in angles
        ]
    if shape == "star":
        points = []
        inner = vary(0.42, 0.08)
        for i in range(10):
            radius = 1.0 if i % 2 == 0 else inner
            angle = math.radians(-90 + 36 * i)
            points.append((radius * math.cos(angle), radius * math.sin(angle) + 0.08))
        return points
    if shape == "cross":
        a, b = vary(0.3, 0.07), vary(0.95, 0.05)
        return [
            (-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a),
            (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a),
        ]  # fmt: skip
    if shape == "diamond":
        width = vary(0.62, 0.1)
        return [(0.0, -1.0), (width, 0.0), (0.0, 1.0), (-width, 0.0)]
    raise ValueError(f"unknown shape {shape!r}")


def _pil_texture(
    gen: np.random.Generator, width: int, height: int, rng: random.Random
) -> np.ndarray:
    """Blotches in [0, 1] at a random scale: Gaussian-blurred white noise, stretched.

    Pixel noise alone taught the model that "noisy" means fine grain; blotches
    the size of an object then read as part of its outline.
    """
    cell = rng.uniform(3, 24)
    small = (max(2, round(width / cell)), max(2, round(height / cell)))
    noise = Image.fromarray(gen.integers(0, 256, (small[1], small[0]), dtype=np.uint8), "L")
    blurred = np.asarray(noise.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5))), np.float32)
    low, high = float(blurred.min()), float(blurred.max())
    stretched = (blurred - low) / max(high - low, 1e-6)
    layer = Image.fromarray(stretched.astype(np.float32), "F")
    return np.asarray(layer.resize((width, height), Image.Resampling.BILINEAR))


def _pil_background(background: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Plain light/dark, noise (grain or blotches) or a gradient (linear or radial)."""
    width, height = size
    hue = rng.random()
    if background in ("light", "dark"):
        val = rng.uniform(0.75, 0.88) if background == "light" else rng.uniform(0.14, 0.3)
        rgb = _hsv_rgb(hue, rng.uniform(0.0, 0.12), val)
        return Image.new("RGB", size, tuple(int(c * 255) for c in rgb))
    gen = np.random.default_rng(rng.getrandbits(32))
    if background == "noisy":
        base = np.array(_hsv_rgb(hue, rng.uniform(0, 0.3), rng.uniform(0.3, 0.75))) * 255
        if rng.random() < 0.6:
            other = np.array(
                _hsv_rgb(hue + rng.uniform(-0.2, 0.2), rng.uniform(0, 0.4), rng.uniform(0.2, 0.9))
            )
            t = _pil_texture(gen, width, height, rng)
            if rng.random() < 0.5:  # a finer grain over the blotches
                t = 0.6 * t + 0.4 * _pil_texture(gen, width, height, rng)
            t = t[..., None]
            pixels = base + t * (other * 255 - base)
            pixels = pixels + gen.normal(0, rng.uniform(0, 10), (height, width, 1))
        else:
            grain = gen.normal(
                0, rng.uniform(12, 40), (height, width, 1 if rng.random() < 0.5 else 3)
            )
            pixels = base[None, None, :] + grain
    else:
        start = np.array(_hsv_rgb(hue, rng.uniform(0, 0.3), rng.uniform(0.2, 0.85))) * 255
        end = np.array(_hsv_rgb(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.2, 0.85))) * 255
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        xs, ys = xs / max(width, 1), ys / max(height, 1)
        if rng.random() < 0.5:
            angle = rng.uniform(0, 2 * math.pi)
            t = xs * math.cos(angle) + ys * math.sin(angle)
        else:
            t = np.hypot(xs - rng.uniform(0.2, 0.8), ys - rng.uniform(0.2, 0.8))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        pixels = start + t[..., None] * (end - start) + gen.normal(0, 4, (height, width, 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def render_pil(
    scene: Scene, width: int, height: int, rng: random.Random, *, variation: float = 0.0
) -> Image.Image:
    """The training renderer: PIL polygons on a supersampled canvas, then downscaled.

    Supersampling (x2 to x4, chosen at random) is the antialiasing; a slight blur
    sometimes follows, so edges are not always equally sharp.  ``variation``
    varies each outline's proportions (see ``_unit_polygon``) and sometimes
    strokes it in a darker shade.
    """
    factor = rng.choice((2, 3, 4)) if max(width, height) <= 320 else 2
    big = (width * factor, height * factor)
    # The background needs no supersampling: drawn at the output size, it comes
    # back unchanged through the box downscale, at a tenth of the cost.
    canvas = _pil_background(scene.background, (width, height), rng)
    canvas = canvas.resize(big, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        cx, cy, radius = _object_frame(obj, *big)
        cos_t, sin_t = math.cos(math.radians(obj.rotation)), math.sin(math.radians(obj.rotation))
        points = []
        for px, py in _unit_polygon(obj.shape, variation, rng):
            px *= obj.stretch
            py /= obj.stretch
            points.append(
                (cx + radius * (px * cos_t - py * sin_t), cy + radius * (px * sin_t + py * cos_t))
            )
        fill = _pil_colour(obj)
        if rng.random() < 0.4 * variation:  # a darker stroke round the shape
            shade = rng.uniform(0.35, 0.75)
            stroke = tuple(round(c * shade) for c in fill)
            draw.polygon(
                points, fill=fill, outline=stroke, width=round(factor * rng.uniform(1, 2.5))
            )
        else:
            draw.polygon(points, fill=fill)
    image = canvas.resize((width, height), Image.Resampling.BOX)
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    return image


# ------------------------------------------------ renderer 2: numpy signed distances

# A different palette: other exact hues, saturations and values than render_pil.
_NUMPY_PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.985, 0.78, 0.8),
    "orange": (0.085, 0.8, 1.0),
    "yellow": (0.145, 0.75, 0.9),
    "green": (0.36, 0.7, 0.62),
    "blue": (0.6, 0.72, 0.95),
    "purple": (0.8, 0.6, 0.62),
}


def _numpy_colour(obj: SceneObject) -> np.ndarray:
    th, ts, tv = obj.tint
    if obj.colour == "black":
        rgb = _hsv_rgb(0.6, 0.15, 0.09 + 0.04 * tv)
    elif obj.colour == "white":
        rgb = _hsv_rgb(0.1, 0.03 + 0.02 * ts, 0.985 + 0.015 * tv)
    else:
        hue, sat, val = _NUMPY_PALETTE[obj.colour]
        rgb = _hsv_rgb(hue - 0.015 * th, sat - 0.08 * ts, val - 0.08 * tv)
    return np.array(rgb, dtype=np.float32)


def _sdf_box(px: np.ndarray, py: np.ndarray, bx: float, by: float) -> np.ndarray:
    dx, dy = np.abs(px) - bx, np.abs(py) - by
    outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    return outside + np.minimum(np.maximum(dx, dy), 0)


def _sdf_polygon(
    px: np.ndarray, py: np.ndarray, vertices: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Exact signed distance to a simple polygon (negative inside)."""
    dist = np.full(px.shape, np.inf, dtype=np.float32)
    inside = np.zeros(px.shape, dtype=bool)
    count = len(vertices)
    for i in range(count):
        ax, ay = vertices[i]
        bx, by = vertices[(i + 1) % count]
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        dist = np.minimum(dist, np.hypot(wx - ex * t, wy - ey * t))
        crosses = (ay > py) != (by > py)
        x_cross = ax + (py - ay) * ex / (ey if ey != 0 else 1e-9)
        inside ^= crosses & (px < x_cross)
    return np.where(inside, -dist, dist)


def _sdf(shape: str, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Signed distance to ``shape`` in object units; proportions differ from render_pil."""
    if shape == "circle":
        return np.hypot(px, py) - 0.97
    if shape == "square":
        return _sdf_box(px, py, 0.8, 0.8)
    if shape == "triangle":
        h = math.sqrt(3) / 2
        return _sdf_polygon(px, py, [(0.0, -0.95), (h * 1.05, 0.62), (-h * 1.05, 0.62)])
    if shape == "star":
        vertices = []
        for i in range(10):
            radius = 1.0 if i % 2 == 0 else 0.46
            angle = math.radians(-90 + 36 * i)
            vertices.append((radius * math.cos(angle), radius * math.sin(angle) + 0.1))
        return _sdf_polygon(px, py, vertices)
    if shape == "cross":
        return np.minimum(_sdf_box(px, py, 0.92, 0.27), _sdf_box(px, py, 0.27, 0.92))
    if shape == "diamond":
        return _sdf_polygon(px, py, [(0.0, -1.0), (0.58, 0.0), (0.0, 1.0), (-0.58, 0.0)])
    raise ValueError(f"unknown shape {shape!r}")


def _value_noise(gen: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth multi-octave value noise in [0, 1], unlike render_pil's pixel noise."""
    total = np.zeros((height, width), dtype=np.float32)
    for cells, weight in ((3, 0.5), (7, 0.3), (17, 0.2)):
        grid = gen.random((cells + 1, cells + 1)).astype(np.float32)
        layer = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
        total += weight * np.asarray(layer)
    return np.clip(total, 0, 1)


def _numpy_background(
    background: str, width: int, height: int, gen: np.random.Generator
) -> np.ndarray:
    """Light/dark with a vignette, smooth value noise, or a radial gradient."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (xs + 0.5) / width - 0.5, (ys + 0.5) / height - 0.5
    hue = float(gen.random())
    if background in ("light", "dark"):
        val = gen.uniform(0.74, 0.86) if background == "light" else gen.uniform(0.16, 0.3)
        base = np.array(_hsv_rgb(hue, gen.uniform(0, 0.1), val), dtype=np.float32)
        shade = 1.0 - gen.uniform(0.0, 0.25) * (u * u + v * v)
        return base[None, None, :] * shade[..., None]
    if background == "noisy":
        low = np.array(_hsv_rgb(hue, gen.uniform(0, 0.35), gen.uniform(0.2, 0.45)), np.float32)
        high = np.array(
            _hsv_rgb(hue + 0.1, gen.uniform(0, 0.35), gen.uniform(0.6, 0.85)), np.float32
        )
        t = _value_noise(gen, width, height)[..., None]
        return low + t * (high - low) + gen.normal(0, 0.02, (height, width, 1)).astype(np.float32)
    inner = np.array(_hsv_rgb(hue, gen.uniform(0, 0.3), gen.uniform(0.3, 0.9)), np.float32)
    outer = np.array(_hsv_rgb(gen.random(), gen.uniform(0, 0.3), gen.uniform(0.2, 0.8)), np.float32)
    cx, cy = gen.uniform(-0.3, 0.3, 2)
    t = np.clip(np.hypot(u - cx, v - cy) / 0.8, 0, 1)[..., None]
    return inner + t * (outer - inner)


def render_numpy(scene: Scene, width: int, height: int, rng: random.Random) -> Image.Image:
    """The held-out renderer: signed distances with analytic-coverage antialiasing.

    Each pixel's coverage is ``clip(0.5 - distance / pixel, 0, 1)``, shapes are a
    little differently proportioned, colours come from another palette, objects
    sometimes get a darker outline, and backgrounds are smooth or radial.
    """
    gen = np.random.default_rng(rng.getrandbits(64))
    pixels = _numpy_background(scene.background, width, height, gen)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for obj in scene.objects:
        cx, cy, radius = _object_frame(obj, width, height)
        theta = math.radians(-obj.rotation)
        dx, dy = (xs + 0.5 - cx) / radius, (ys + 0.5 - cy) / radius
        px = (dx * math.cos(theta) - dy * math.sin(theta)) / obj.stretch
        py = (dx * math.sin(theta) + dy * math.cos(theta)) * obj.stretch
        dist = _sdf(obj.shape, px, py) * radius  # back to pixels
        colour = _numpy_colour(obj)
        if gen.random() < 0.5:
            outline = colour * 0.55
            ring = np.clip(0.5 - dist / 1.0, 0, 1)[..., None]
            pixels = pixels * (1 - ring) + outline * ring
            dist = dist + gen.uniform(1.0, 2.0)
        coverage = np.clip(0.5 - dist, 0, 1)[..., None]
        pixels = pixels * (1 - coverage) + colour * coverage
    return Image.fromarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


Renderer = Callable[[Scene, int, int, random.Random], Image.Image]
RENDERERS: dict[str, Renderer] = {"pil": render_pil, "numpy": render_numpy}


# ------------------------------------------------------------------ labelled folders


@dataclass(frozen=True)
class LabelledImage:
    """One line of ``labels.jsonl``: an image file, its caption and its labels."""

    file: str
    caption: str
    labels: dict[str, str] = field(default_factory=dict)


def encode_image(image: Image.Image, image_format: str, rng: random.Random) -> bytes:
    """PNG bytes, or JPEG bytes at a random quality (real galleries mix both)."""
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=rng.randint(60, 95))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def write_labelled_folder(
    folder: str | Path,
    items: Iterable[tuple[Image.Image, str, Mapping[str, str]]],
    *,
    image_format: str = "mixed",
    seed: int = 0,
) -> list[LabelledImage]:
    """Write images plus ``labels.jsonl`` (format in the module docstring).

    ``image_format`` is "png", "jpeg" or "mixed" (each image picks one).
    """
    if image_format not in ("png", "jpeg", "mixed"):
        raise ValueError("image_format must be png, jpeg or mixed")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = []
    for index, (image, caption, labels) in enumerate(items):
        fmt = image_format if image_format != "mixed" else rng.choice(("png", "jpeg"))
        name = f"{index:05d}.{'jpg' if fmt == 'jpeg' else 'png'}"
        (root / name).write_bytes(encode_image(image, fmt, rng))
        written.append(LabelledImage(name, caption, dict(labels)))
    lines = [
        json.dumps({"file": item.file, "caption": item.caption, "labels": item.labels})
        for item in written
    ]
    (root / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def read_labelled_folder(folder: str | Path) -> list[LabelledImage]:
    """Read ``labels.jsonl``; raise ValueError naming the line when one is malformed."""
    root = Path(folder)
    items = []
    text = (root / "labels.jsonl").read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            item = LabelledImage(
                str(record["file"]),
                str(record["caption"]),
                {str(k): str(v) for k, v in (record.get("labels") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"labels.jsonl line {number}: {error}") from error
        items.append(item)
    return items


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
