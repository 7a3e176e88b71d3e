"""The training renderer: PIL polygons on a supersampled canvas (:func:`render_pil`)."""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from demo.render import hsv_rgb, object_frame
from demo.scenes import Scene, SceneObject, Sign

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
        rgb = hsv_rgb(th, 0.2 + 0.2 * ts, 0.06 + 0.05 * tv)
    elif obj.colour == "white":
        rgb = hsv_rgb(th, 0.04 + 0.03 * ts, 0.97 + 0.03 * tv)
    else:
        hue, sat, val = _PIL_PALETTE[obj.colour]
        rgb = hsv_rgb(hue + 0.022 * th, sat + 0.12 * ts, val + 0.1 * tv)
    red, green, blue = (round(c * 255) for c in rgb)
    return red, green, blue


# A sign's plaque and ink colours by name (SIGN_COLOURS pairs them).
_SIGN_RGB: dict[str, tuple[int, int, int]] = {
    "white": (246, 246, 240),
    "black": (22, 22, 28),
    "yellow": (250, 204, 40),
    "orange": (250, 160, 40),
    "sky": (160, 205, 240),
}
# The tallest a sign's plaque may be, as a fraction of the frame's height.
_SIGN_MAX_HEIGHT = 0.36


def _sign_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own scalable font (Aileron), the same on every machine, unlike system fonts."""
    return ImageFont.load_default(size)


def _draw_sign(canvas: Image.Image, sign: Sign) -> None:
    """Paste ``sign`` onto ``canvas``: a plaque with its text filling it, rotated.

    Draws with no random numbers, so a scene's other pixels do not depend on
    whether it has a sign.
    """
    width, height = canvas.size
    plaque, ink = _SIGN_RGB[sign.colours[0]], _SIGN_RGB[sign.colours[1]]
    # Size the text to the plaque: measure at a reference size, then scale.
    reference = 100
    left, top, right, bottom = _sign_font(reference).getbbox(sign.text, stroke_width=4)
    target_width = sign.width * width * 0.84
    target_height = _SIGN_MAX_HEIGHT * height / 1.6
    size = max(
        8, int(reference * min(target_width / (right - left), target_height / (bottom - top)))
    )
    stroke = max(1, size // 25)  # a bolder face: sign lettering is heavy
    font = _sign_font(size)
    left, top, right, bottom = (round(v) for v in font.getbbox(sign.text, stroke_width=stroke))
    text_w, text_h = right - left, bottom - top
    pad_x, pad_y = round(0.08 * text_w) + size // 4, round(0.3 * text_h)
    layer = Image.new("RGBA", (text_w + 2 * pad_x, text_h + 2 * pad_y), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    # No outline in the ink's colour: Tesseract's layout analysis takes text
    # inside a drawn frame for a table or a picture, and reads nothing there.
    draw.rounded_rectangle(
        (0, 0, layer.width - 1, layer.height - 1), radius=size // 5, fill=(*plaque, 255)
    )
    draw.text(
        (pad_x - left, pad_y - top),
        sign.text,
        font=font,
        fill=(*ink, 255),
        stroke_width=stroke,
        stroke_fill=(*ink, 255),
    )
    if sign.rotation:
        layer = layer.rotate(sign.rotation, Image.Resampling.BICUBIC, expand=True)
    centre = (round(sign.x * width - layer.width / 2), round(sign.y * height - layer.height / 2))
    canvas.paste(layer, centre, layer)


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
        rgb = hsv_rgb(hue, rng.uniform(0.0, 0.12), val)
        return Image.new("RGB", size, tuple(int(c * 255) for c in rgb))
    gen = np.random.default_rng(rng.getrandbits(32))
    if background == "noisy":
        base = np.array(hsv_rgb(hue, rng.uniform(0, 0.3), rng.uniform(0.3, 0.75))) * 255
        if rng.random() < 0.6:
            other = np.array(
                hsv_rgb(hue + rng.uniform(-0.2, 0.2), rng.uniform(0, 0.4), rng.uniform(0.2, 0.9))
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
        start = np.array(hsv_rgb(hue, rng.uniform(0, 0.3), rng.uniform(0.2, 0.85))) * 255
        end = np.array(hsv_rgb(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.2, 0.85))) * 255
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
    strokes it in a darker shade.  A scene's sign is drawn last, in front.
    """
    factor = rng.choice((2, 3, 4)) if max(width, height) <= 320 else 2
    big = (width * factor, height * factor)
    # The background needs no supersampling: drawn at the output size, it comes
    # back unchanged through the box downscale, at a tenth of the cost.
    canvas = _pil_background(scene.background, (width, height), rng)
    canvas = canvas.resize(big, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        cx, cy, radius = object_frame(obj, *big)
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
    if scene.sign is not None:
        _draw_sign(canvas, scene.sign)
    image = canvas.resize((width, height), Image.Resampling.BOX)
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    return image
