"""Decode a photo no larger than the model and the thumbnail need.

A 12-megapixel JPEG costs about 120 ms to decode in full and about 40 ms when
libjpeg scales it by 1/2, 1/4 or 1/8 while decoding (Pillow's draft mode),
and CLIP looks at 224 pixels.  Other formats have no such mode; a box
`reduce` then brings them near the size needed before the exact resize, so
the slow bicubic resize never runs on 12 million pixels.

Pure PIL (no Django), so the benchmarks can run it anywhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import IO

from PIL import Image as PILImage

# A box `reduce` keeps this factor over the size needed, so the final bicubic
# resize still filters real pixels (as Pillow's thumbnail() does).  libjpeg's
# scaled decode filters properly itself and needs no headroom.
REDUCE_HEADROOM = 2

_TRANSPOSE = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}


def needed_size(width: int, height: int, *, short_side: int, long_side: int = 0) -> tuple[int, int]:
    """Smallest (width, height) at this aspect ratio with both needs met (no upscaling)."""
    short, long = min(width, height), max(width, height)
    factor = max(short_side / short, long_side / long if long_side else 0.0)
    factor = min(1.0, factor)
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def open_reduced(
    source: str | Path | IO[bytes], *, short_side: int, long_side: int = 0
) -> PILImage.Image:
    """Open and decode near the needed size (see `decode_reduced`)."""
    return decode_reduced(PILImage.open(source), short_side=short_side, long_side=long_side)


def decode_reduced(
    picture: PILImage.Image, *, short_side: int, long_side: int = 0
) -> PILImage.Image:
    """Decode an opened image near the needed size, apply EXIF orientation, return RGB.

    `short_side` is what the model needs on the shorter edge (its resize
    target), `long_side` what the thumbnail needs on the longer edge.
    """
    # Read before decoding: reduce() makes a new image, and sizes below are pre-rotation.
    transpose = _TRANSPOSE.get(picture.getexif().get(0x0112, 1))
    width, height = picture.size
    target = needed_size(width, height, short_side=short_side, long_side=long_side)
    if picture.format == "JPEG":
        # draft() keeps the decoded size >= the requested one in both directions.
        picture.draft("RGB", target)
    picture.load()
    factor = min(
        picture.size[0] // (target[0] * REDUCE_HEADROOM),
        picture.size[1] // (target[1] * REDUCE_HEADROOM),
    )
    if factor >= 2:
        picture = picture.reduce(factor)
    if transpose is not None:
        picture = picture.transpose(transpose)
    return picture if picture.mode == "RGB" else picture.convert("RGB")


def oriented_size(picture: PILImage.Image) -> tuple[int, int]:
    """(width, height) as displayed, from the header, without decoding."""
    width, height = picture.size
    if picture.getexif().get(0x0112, 1) in (5, 6, 7, 8):
        return height, width
    return width, height
