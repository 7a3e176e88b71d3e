"""The held-out renderer, written from scratch with signed distances (:func:`render_numpy`).

It shares no drawing code with the training renderer: its own shape
proportions, palette, outlines, backgrounds and analytic-coverage antialiasing,
so a model scored on it is scored beyond the pixels it was trained on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
from PIL import Image

from demo.render import hsv_rgb, object_frame
from demo.scenes import Scene, SceneObject

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
        rgb = hsv_rgb(0.6, 0.15, 0.09 + 0.04 * tv)
    elif obj.colour == "white":
        rgb = hsv_rgb(0.1, 0.03 + 0.02 * ts, 0.985 + 0.015 * tv)
    else:
        hue, sat, val = _NUMPY_PALETTE[obj.colour]
        rgb = hsv_rgb(hue - 0.015 * th, sat - 0.08 * ts, val - 0.08 * tv)
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
        base = np.array(hsv_rgb(hue, gen.uniform(0, 0.1), val), dtype=np.float32)
        shade = 1.0 - gen.uniform(0.0, 0.25) * (u * u + v * v)
        return base[None, None, :] * shade[..., None]
    if background == "noisy":
        low = np.array(hsv_rgb(hue, gen.uniform(0, 0.35), gen.uniform(0.2, 0.45)), np.float32)
        high = np.array(
            hsv_rgb(hue + 0.1, gen.uniform(0, 0.35), gen.uniform(0.6, 0.85)), np.float32
        )
        t = _value_noise(gen, width, height)[..., None]
        return low + t * (high - low) + gen.normal(0, 0.02, (height, width, 1)).astype(np.float32)
    inner = np.array(hsv_rgb(hue, gen.uniform(0, 0.3), gen.uniform(0.3, 0.9)), np.float32)
    outer = np.array(hsv_rgb(gen.random(), gen.uniform(0, 0.3), gen.uniform(0.2, 0.8)), np.float32)
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
        cx, cy, radius = object_frame(obj, width, height)
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
