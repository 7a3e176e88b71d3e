"""Decode any accepted image to upright 8-bit sRGB, no larger than the model and the thumbnail need.

A 12-megapixel JPEG costs about 120 ms to decode in full and about 40 ms when
libjpeg scales it by 1/2, 1/4 or 1/8 while decoding (Pillow's draft mode),
and CLIP looks at 224 pixels.  Other formats have no such mode; a box
`reduce` then brings them near the size needed before the exact resize, so
the slow bicubic resize never runs on 12 million pixels.

What comes out is what the reference pipeline would see (the file fully
decoded, EXIF-upright, converted to sRGB by its ICC profile, composited onto
white, 8 bits a channel, then `CLIPProcessor`), only smaller:
`tests/gallery/test_decode_parity.py` holds every accepted format and mode to
cosine >= 0.999 against it, from the file's bytes.

- `1`, `P`, `I;16`: `reduce()` refuses these modes; they become `L` or `RGB` first.
- Transparency (an alpha band, a palette's tRNS, a transparent colour): composited
  onto white at full size, before any reduction (`reduce()` averages RGBA
  premultiplied, so a reduced transparent pixel would come out black).
- 16-bit greyscale: scaled to 8 bits (Pillow's own conversion clips at 255, so
  a 16-bit scan would be all white).  Pillow already reads 48- and 64-bit PNGs
  as 8-bit `RGB`/`RGBA` by their high bytes.
- CMYK and an embedded ICC profile: converted to sRGB with littlecms
  (`PIL.ImageCms`).  A CMYK file without a profile gets Pillow's plain
  conversion; a profile that does not fit the pixels is ignored.

A reduced picture carries its original's geometry
(`encoder.preprocess.mark_reduced`), so the model's resize of it lands each
pixel where the resize of the original would.

Camera RAW files (DNG, CR2, NEF, ARW; `gallery.camera_raw` tells them from
their bytes) are developed by LibRaw through the optional `rawpy`
(`open_raw`): the camera's white balance, sRGB primaries and tone curve, 8
bits, upright by the file's orientation.  When half the sensor's resolution is
enough, LibRaw's half-size mode takes each 2x2 block of the mosaic as one
pixel instead of demosaicing: 0.22 s instead of 1.6 s for 24 MP on one core.

PIL, littlecms, numpy (and rawpy), no settings, so the benchmarks can run it anywhere.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms

from encoder.preprocess import mark_reduced
from gallery.camera_raw import raw_format, rawpy_module

# A box `reduce` keeps this factor over the size needed, so the final bicubic
# resize still filters real pixels (as Pillow's `resize(reducing_gap=...)`
# does).  With the original's geometry kept (`mark_reduced`), 2 holds every
# kind at cosine >= 0.9997 to the full decode for the demo model and B/32
# shapes; 4 gains under 0.0002 and doubles the decode time of palette and
# greyscale PNGs (bench/README.md, "Decoding headroom").
REDUCE_HEADROOM = 2
# libjpeg's scaled decode (1/2, 1/4, 1/8) is a good filter, but not the
# processor's bicubic: a scale that lands just above the size needed (a
# 640x480 photo at 1/2 for B/32's 224 px) cost a cosine of 0.996.  At 1.5x
# the worst kind keeps 0.9997, and a 12 MP photo still decodes at 1/8 for
# B/32.  draft() never decodes below the size requested.
DRAFT_HEADROOM = 1.5

_TRANSPOSE = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
# (power, toe slope) of the sRGB transfer curve, in LibRaw's terms.
_SRGB_CURVE = (2.4, 12.92)

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_WHITE = 255


def needed_size(width: int, height: int, *, short_side: int, long_side: int = 0) -> tuple[int, int]:
    """Smallest (width, height) at this aspect ratio with both needs met (no upscaling)."""
    short, long = min(width, height), max(width, height)
    factor = max(short_side / short, long_side / long if long_side else 0.0)
    factor = min(1.0, factor)
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def open_reduced(
    source: str | Path | IO[bytes],
    *,
    short_side: int,
    long_side: int = 0,
    reduce_headroom: float = REDUCE_HEADROOM,
    draft_headroom: float = DRAFT_HEADROOM,
) -> PILImage.Image:
    """Open and decode near the needed size (see `decode_reduced`); a camera RAW file by LibRaw."""
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            return open_reduced(
                handle,
                short_side=short_side,
                long_side=long_side,
                reduce_headroom=reduce_headroom,
                draft_headroom=draft_headroom,
            )
    start = source.tell()
    if source.read(4) in _TIFF_MAGIC:
        source.seek(start)
        data = source.read()
        if raw_format(data) is not None:
            with open_raw(data) as raw:
                return raw.decode(
                    short_side=short_side,
                    long_side=long_side,
                    reduce_headroom=reduce_headroom,
                    draft_headroom=draft_headroom,
                )
        source = io.BytesIO(data)
    source.seek(start)
    return decode_reduced(
        PILImage.open(source),
        short_side=short_side,
        long_side=long_side,
        reduce_headroom=reduce_headroom,
        draft_headroom=draft_headroom,
    )


def decode_reduced(
    picture: PILImage.Image,
    *,
    short_side: int,
    long_side: int = 0,
    reduce_headroom: float = REDUCE_HEADROOM,
    draft_headroom: float = DRAFT_HEADROOM,
) -> PILImage.Image:
    """Decode an opened image near the needed size: upright, 8-bit sRGB, `RGB` mode.

    `short_side` is what the model needs on the shorter edge (its resize
    target), `long_side` what the thumbnail needs on the longer edge.  The
    headrooms are the factors kept over that size (the defaults are the
    product's; the decoding benchmark compares others).  Raises what Pillow
    raises for damaged bytes (`OSError`, `ValueError`, `SyntaxError`,
    `EOFError`), never for a colour profile: one that cannot be applied is
    ignored.  An animated GIF or WebP gives its first frame.
    """
    # Read before decoding: reduce() makes a new image, and sizes below are pre-rotation.
    orientation = picture.getexif().get(0x0112, 1)
    profile = picture.info.get("icc_profile") or None
    width, height = picture.size
    target = needed_size(width, height, short_side=short_side, long_side=long_side)
    # The whole picture's right and bottom edges in the decoded pixels: libjpeg
    # and reduce() round their sizes up, so these are fractional.
    extent = (float(width), float(height))
    if picture.format in ("JPEG", "MPO"):  # MPO: a camera's JPEG with a second view
        # draft() keeps the decoded size >= the requested one in both directions.
        drafted = picture.draft(
            "RGB",
            (
                min(width, math.ceil(target[0] * draft_headroom)),
                min(height, math.ceil(target[1] * draft_headroom)),
            ),
        )
        if drafted is not None:
            extent = drafted[1][2], drafted[1][3]
    picture.load()
    colour, alpha = _split_alpha(_eight_bit(picture))
    if alpha is not None:
        # The reference converts to sRGB, then composites onto sRGB white, at
        # full size; so does this, for the few images with both.
        colour = _onto_white(_to_srgb(colour, profile), alpha)
        profile = None
    colour, extent = _box_reduced(colour, extent, target, reduce_headroom)
    # An opaque image is converted after the reduction: littlecms costs about
    # 20 ns a pixel, 0.23 s on 12 MP.  Averaging before the (non-linear)
    # transform instead of after moves a pixel by half a level on average,
    # tens of levels only along sharp colour edges; the vectors stay at
    # cosine >= 0.9998 to the reference's (tests/gallery/test_decode_parity.py).
    colour = _to_srgb(colour, profile)
    transpose = _TRANSPOSE.get(orientation)
    if transpose is not None:
        colour = colour.transpose(transpose)
    if orientation in (5, 6, 7, 8):
        width, height, extent = height, width, (extent[1], extent[0])
    colour = colour if colour.mode == "RGB" else colour.convert("RGB")
    # The pixels are upright sRGB now: the file's profile, transparency and
    # orientation no longer describe them, and must not reach a saved thumbnail.
    colour.info = {}
    if colour.size != (width, height):
        mark_reduced(colour, source_size=(width, height), extent=extent)
    return colour


class RawUnavailable(RuntimeError):
    """`rawpy` is not installed: camera RAW files cannot be decoded (`pip install '.[raw]'`)."""


class RawPicture:
    """A camera RAW file opened by LibRaw: its header read, its pixels not yet.

    A context manager (LibRaw holds the file's bytes and, once decoding, its
    buffers).  Raises `RawUnavailable` without rawpy, and rawpy's `LibRawError`
    subclasses for bytes LibRaw cannot read, here or in `decode`.
    """

    def __init__(self, data: bytes) -> None:
        rawpy = rawpy_module()
        if rawpy is None:
            raise RawUnavailable("rawpy is not installed: pip install '.[raw]'")
        self._rawpy = rawpy
        self._raw: Any = rawpy.imread(io.BytesIO(data))

    def __enter__(self) -> RawPicture:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._raw.close()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the developed picture, upright, from the header."""
        sizes = self._raw.sizes
        # LibRaw's flip: bit 4 transposes (5: 90 degrees anticlockwise, 6: clockwise).
        if sizes.flip & 4:
            return int(sizes.height), int(sizes.width)
        return int(sizes.width), int(sizes.height)

    @property
    def pixels(self) -> int:
        """Pixels LibRaw allocates for: the sensor's whole area, margins included."""
        sizes = self._raw.sizes
        return max(int(sizes.raw_width) * int(sizes.raw_height), self.size[0] * self.size[1])

    def decode(
        self,
        *,
        short_side: int,
        long_side: int = 0,
        reduce_headroom: float = REDUCE_HEADROOM,
        draft_headroom: float = DRAFT_HEADROOM,
    ) -> PILImage.Image:
        """Develop near the needed size (as `decode_reduced`): upright 8-bit sRGB, `RGB` mode.

        The camera's white balance as shot; sRGB primaries and the sRGB curve
        (LibRaw's default is BT.709's); otherwise LibRaw's defaults, dcraw's:
        AHD demosaicing, highlights clipped, the exposure brightened so that
        1% of the pixels are white.  Half size (each 2x2 block of the mosaic
        one pixel) when that keeps `draft_headroom` over the size needed, as
        a JPEG's scaled decode does; a linear DNG, already demosaiced, always
        comes at full size.
        """
        width, height = self.size
        target = needed_size(width, height, short_side=short_side, long_side=long_side)
        half = all(
            side // 2 >= math.ceil(need * draft_headroom)
            for side, need in zip((width, height), target, strict=True)
        )
        developed = self._raw.postprocess(
            use_camera_wb=True,
            output_color=self._rawpy.ColorSpace.sRGB,
            output_bps=8,
            gamma=_SRGB_CURVE,
            half_size=half,
        )
        colour = PILImage.fromarray(np.ascontiguousarray(developed), "RGB")
        scale = 2 if half and colour.size != (width, height) else 1
        source, extent = (width, height), (width / scale, height / scale)
        if colour.size != (math.ceil(extent[0]), math.ceil(extent[1])):
            # Non-square sensor pixels or a Fuji's rotated sensor: LibRaw's
            # output has its own geometry, and it is the picture.
            source = (colour.size[0] * scale, colour.size[1] * scale)
            extent = (float(colour.size[0]), float(colour.size[1]))
        colour, extent = _box_reduced(colour, extent, target, reduce_headroom)
        if colour.size != source:
            mark_reduced(colour, source_size=source, extent=extent)
        return colour


def open_raw(data: bytes) -> RawPicture:
    """Open a camera RAW file's bytes with LibRaw (see `RawPicture`)."""
    return RawPicture(data)


def oriented_size(picture: PILImage.Image) -> tuple[int, int]:
    """(width, height) as displayed, from the header, without decoding."""
    width, height = picture.size
    if picture.getexif().get(0x0112, 1) in (5, 6, 7, 8):
        return height, width
    return width, height


def _eight_bit(picture: PILImage.Image) -> PILImage.Image:
    """16-bit greyscale scaled to `L` (or `LA` with its transparent value); others as they are.

    Pillow's own `I;16` to `L` conversion clips every value above 255.  This
    rounds v * 255 / 65535, as a 16-bit-aware viewer does.
    """
    if picture.mode not in _SIXTEEN_BIT:
        return picture
    values = np.asarray(picture)
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    grey = PILImage.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
    transparent = picture.info.get("transparency")
    if isinstance(transparent, int):
        alpha = PILImage.fromarray(np.where(wide == transparent, 0, 255).astype(np.uint8), "L")
        return PILImage.merge("LA", (grey, alpha))
    return grey


def _split_alpha(picture: PILImage.Image) -> tuple[PILImage.Image, PILImage.Image | None]:
    """The colour in a mode `reduce()` takes (`L`, `RGB`, `CMYK`), and the alpha if any is used."""
    mode = picture.mode
    if picture.has_transparency_data and mode not in ("RGBA", "LA"):
        # A palette's tRNS alpha, a transparent index or colour, PA, premultiplied
        # modes: Pillow's conversion turns each into a plain alpha band.
        picture = picture.convert("LA" if mode in ("1", "L", "La") else "RGBA")
    if picture.mode in ("RGBA", "LA"):
        alpha = picture.getchannel("A")
        colour = picture.convert(picture.mode[:-1])  # Drops the band, keeps the colour as stored.
        return colour, (None if alpha.getextrema() == (_WHITE, _WHITE) else alpha)
    if picture.mode in ("L", "RGB", "CMYK"):
        return picture, None
    return picture.convert("L" if picture.mode == "1" else "RGB"), None


def _onto_white(colour: PILImage.Image, alpha: PILImage.Image) -> PILImage.Image:
    """`colour` over an opaque white background, weighted by `alpha` (the reference's composite)."""
    background = PILImage.new(colour.mode, colour.size, (_WHITE,) * len(colour.getbands()))
    background.paste(colour, mask=alpha)
    return background


def _to_srgb(colour: PILImage.Image, profile: bytes | None) -> PILImage.Image:
    """`colour` converted to sRGB by its embedded profile; CMYK always ends as RGB."""
    transform = _transform(profile, colour.mode) if profile else None
    if transform is not None:
        return transform.apply(colour)
    return colour.convert("RGB") if colour.mode == "CMYK" else colour


def _transform(profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The profile-to-sRGB transform for `mode` pixels, or None when the profile cannot apply.

    Cached by the profile's digest: a photo library embeds a handful of
    profiles (a camera's, Display P3), building a transform costs
    milliseconds, and a printer's profile can run to megabytes, too much to
    keep many copies of as cache keys.  littlecms 2 keeps a transform's
    per-call state on the stack, so decode threads share one safely.
    """
    key = (hashlib.blake2b(profile, digest_size=16).digest(), mode)
    with _transforms_lock:
        if key in _transforms:
            return _transforms[key]
    try:
        transform: ImageCms.ImageCmsTransform | None = ImageCms.buildTransform(
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            _SRGB,
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A damaged profile, or one for another colour space than the pixels
        # (an RGB profile on a greyscale PNG): the file's mistake, not a reason
        # to refuse the image.
        transform = None
    with _transforms_lock:
        if len(_transforms) >= _TRANSFORMS_KEPT:
            _transforms.clear()
        _transforms[key] = transform
    return transform


_SRGB = ImageCms.createProfile("sRGB")
_TRANSFORMS_KEPT = 32
_transforms: dict[tuple[bytes, str], ImageCms.ImageCmsTransform | None] = {}
_transforms_lock = threading.Lock()


def _box_reduced(
    colour: PILImage.Image,
    extent: tuple[float, float],
    target: tuple[int, int],
    headroom: float,
) -> tuple[PILImage.Image, tuple[float, float]]:
    """`colour` box-reduced by the largest integer factor that keeps `headroom` x `target`,
    and the extent of the picture in the reduced pixels."""
    factor = int(
        min(colour.size[0] / (target[0] * headroom), colour.size[1] / (target[1] * headroom))
    )
    if factor < 2:
        return colour, extent
    return colour.reduce(factor), (extent[0] / factor, extent[1] / factor)
