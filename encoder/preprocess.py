"""CLIP image preprocessing for whole batches, equivalent to the model's image processor.

`CLIPImageProcessor` (PIL backend) turns each image into an array, back into
a PIL image to resize it, then crops, rescales and normalises it in float64
steps, one image at a time: on a full-size photo that costs more than the
model.  This does the same arithmetic with one PIL resize per image and one
fused multiply-add over the stacked batch (or, for a decode thread, a
lookup table per channel, `prepared`).  `tests/encoder/test_preprocess.py`
holds it to the processor: pixel values within 1e-5, embeddings at cosine
≥ 0.999.  A picture decoded smaller than its file (`gallery.decoding`) is
resized by its original's geometry (`mark_reduced`), as if it were the original.

Pure PIL and numpy (no Django), so the benchmarks can run it anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image as PILImage

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# The `info` key of an image decoded smaller than its file (`gallery.decoding`).
_SOURCE_KEY = "clipsearch.source"


def mark_reduced(
    image: PILImage.Image, *, source_size: tuple[int, int], extent: tuple[float, float]
) -> None:
    """Record on `image` that it shows all of a `source_size` picture, to `extent`.

    `extent` is (right, bottom): where the original's edges lie in `image`'s
    pixels.  `copy()`, `convert()` and `transpose()` keep the record.

    A reduced size is rounded up (3736 px reduced by 3 is 1246, not 1245.33),
    so its aspect ratio is not quite the original's, and CLIP's short-side
    resize would round to another width: at 240 against 241 px the edges of
    every shape move by up to a pixel (a centred cosine down to 0.989 on B/32).
    With the original's size and the fractional extent, `resized` lands each
    output pixel where the processor's resize of the original puts it.
    """
    image.info[_SOURCE_KEY] = (source_size, extent)


def source_geometry(image: PILImage.Image) -> tuple[tuple[int, int], tuple[float, float] | None]:
    """The size of the picture `image` shows, and its extent in `image` (None: all of it)."""
    marked = image.info.get(_SOURCE_KEY)
    if marked is None:
        return image.size, None
    (width, height), (right, bottom) = marked
    return (int(width), int(height)), (float(right), float(bottom))


class UnsupportedProcessor(Exception):
    """The model's image processor does something this module does not reproduce."""


@dataclass(frozen=True)
class ClipPreprocessor:
    """Resize, crop, rescale and normalise, as the saved processor config says.

    `shortest_edge` resizes the short side and keeps the aspect ratio (CLIP);
    otherwise `(height, width)` is resized to exactly (SigLIP, the demo model).
    """

    shortest_edge: int | None
    height: int
    width: int
    crop: tuple[int, int] | None
    resample: int
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_processor(cls, image_processor: Any) -> ClipPreprocessor:
        """Read the settings off a loaded transformers image processor."""
        config = image_processor.to_dict() if hasattr(image_processor, "to_dict") else {}
        return cls.from_config(config)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClipPreprocessor:
        unsupported = [
            key for key in ("do_pad", "do_reduce_labels", "do_image_splitting") if config.get(key)
        ]
        if unsupported or not config.get("do_resize", True):
            raise UnsupportedProcessor(f"processor options not reproduced: {unsupported}")
        size = dict(config.get("size") or {"shortest_edge": 224})
        if "longest_edge" in size or "max_height" in size:
            raise UnsupportedProcessor(f"resize rule not reproduced: {size}")
        shortest = size.get("shortest_edge")
        height = int(size.get("height") or shortest or 224)
        width = int(size.get("width") or shortest or 224)
        crop = None
        if config.get("do_center_crop", False):
            crop_size = config.get("crop_size") or {"height": height, "width": width}
            crop = (int(crop_size["height"]), int(crop_size["width"]))
        do_rescale = config.get("do_rescale", True)
        do_normalize = config.get("do_normalize", True)
        mean = tuple(config.get("image_mean") or OPENAI_CLIP_MEAN) if do_normalize else (0.0,) * 3
        std = tuple(config.get("image_std") or OPENAI_CLIP_STD) if do_normalize else (1.0,) * 3
        if len(mean) == 1:
            mean = mean * 3
        if len(std) == 1:
            std = std * 3
        resample = config.get("resample", PILImage.Resampling.BICUBIC)
        return cls(
            shortest_edge=int(shortest) if shortest else None,
            height=height,
            width=width,
            crop=crop,
            resample=int(resample if resample is not None else PILImage.Resampling.BICUBIC),
            scale=float(config.get("rescale_factor", 1 / 255)) if do_rescale else 1.0,
            mean=(float(mean[0]), float(mean[1]), float(mean[2])),
            std=(float(std[0]), float(std[1]), float(std[2])),
        )

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the arrays this produces."""
        return self.crop or (self.height, self.width)

    def resize_target(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the processor resizes an image of this size to."""
        if self.shortest_edge is None:
            return self.width, self.height
        # Same integer rounding as transformers' get_resize_output_image_size.
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        if width <= height:
            return self.shortest_edge, new_long
        return new_long, self.shortest_edge

    def min_decode_size(self, width: int, height: int) -> tuple[int, int]:
        """The smallest (width, height) worth decoding: the resize target, not the original."""
        return self.resize_target(width, height)

    def resized(self, image: PILImage.Image) -> np.ndarray:
        """One image resized and cropped: an (h, w, 3) uint8 array.

        A reduced decode (`mark_reduced`) is resized as its original would be.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        size, extent = source_geometry(image)
        target = self.resize_target(*size)
        if extent is not None:
            image = image.resize(target, resample=self.resample, box=(0.0, 0.0, *extent))
        elif image.size != target:
            image = image.resize(target, resample=self.resample)
        pixels = np.asarray(image)
        if self.crop is not None:
            pixels = _center_crop(pixels, *self.crop)
        return pixels

    def normalise(self, batch: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) uint8 to (n, 3, h, w) float32, rescaled and normalised in one pass."""
        std = np.asarray(self.std, dtype=np.float32)
        gain = np.float32(self.scale) / std
        offset = np.asarray(self.mean, dtype=np.float32) / std
        out = np.empty((batch.shape[0], 3, *batch.shape[1:3]), dtype=np.float32)
        for channel in range(3):
            np.multiply(batch[..., channel], gain[channel], out=out[:, channel], casting="unsafe")
            out[:, channel] -= offset[channel]
        return out

    def prepared(self, image: PILImage.Image) -> np.ndarray:
        """One image as the model's (3, h, w) float32 input: resized, cropped and normalised.

        The values `normalise` gives its row of the batch: an 8-bit level has
        one normalised value per channel, so a 256-entry table per channel
        does the arithmetic in one lookup, in the decode thread, instead of a
        pass over the stacked batch between two forwards.
        """
        pixels = self.resized(image)
        out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
        for channel in range(3):
            np.take(self._levels[channel], pixels[..., channel], out=out[channel])
        return out

    @cached_property
    def _levels(self) -> np.ndarray:
        """(3, 256): `normalise` of every 8-bit value, per channel."""
        levels = np.arange(256, dtype=np.uint8).reshape(1, 1, 256, 1).repeat(3, axis=3)
        return np.ascontiguousarray(self.normalise(levels)[0, :, 0, :])

    def __call__(self, images: Sequence[PILImage.Image]) -> np.ndarray:
        """A batch of PIL images to the model's (n, 3, h, w) float32 pixel values."""
        height, width = self.output_size
        if not images:
            return np.zeros((0, 3, height, width), dtype=np.float32)
        return self.normalise(np.stack([self.resized(image) for image in images]))


def _center_crop(pixels: np.ndarray, crop_height: int, crop_width: int) -> np.ndarray:
    """Centre crop, padding with zeros where the image is smaller (as transformers does)."""
    height, width = pixels.shape[:2]
    if height < crop_height or width < crop_width:
        padded = np.zeros(
            (max(height, crop_height), max(width, crop_width), pixels.shape[2]), pixels.dtype
        )
        top = -(-(padded.shape[0] - height) // 2)
        left = -(-(padded.shape[1] - width) // 2)
        padded[top : top + height, left : left + width] = pixels
        pixels, height, width = padded, padded.shape[0], padded.shape[1]
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return pixels[top : top + crop_height, left : left + crop_width]
