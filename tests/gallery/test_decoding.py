"""Decoding near the needed size: draft-mode JPEGs, reduced PNGs, EXIF orientation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from encoder.clip import get_encoder
from gallery.decoding import decode_reduced, open_reduced, oriented_size
from gallery.validation import InvalidImage, inspect_image
from tests.factories import image_bytes, picture


def photo(size: tuple[int, int], fmt: str = "JPEG", **save: object) -> bytes:
    """A photo-like image: a smooth colour field with a shape on it."""
    rng = np.random.default_rng(3)
    low = PILImage.fromarray(rng.integers(0, 255, (4, 6, 3), dtype=np.uint8))
    image = low.resize(size, PILImage.Resampling.BICUBIC)
    image.paste(picture((230, 20, 20), (size[0] // 2, size[1] // 2)), (size[0] // 4, size[1] // 4))
    return image_bytes(image, fmt, **save)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_no_smaller_than_needed() -> None:
    decoded = open_reduced(io.BytesIO(photo((4000, 3000))), short_side=224, long_side=384)

    # libjpeg scales by 1/8 here: 500x375 still covers 224 on the short side.
    assert decoded.size == (500, 375)
    assert decoded.mode == "RGB"


def test_a_large_png_is_reduced_but_keeps_headroom_for_the_resize() -> None:
    decoded = open_reduced(io.BytesIO(photo((3000, 2000), "PNG")), short_side=224)

    assert 2 * 224 <= min(decoded.size) < 2000
    assert decoded.size[0] / decoded.size[1] == pytest.approx(1.5, rel=0.01)


def test_small_images_are_never_upscaled() -> None:
    assert open_reduced(io.BytesIO(photo((120, 90))), short_side=224).size == (120, 90)


def test_exif_orientation_is_applied_from_the_header() -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    data = photo((1600, 1200), exif=exif.tobytes())

    decoded = open_reduced(io.BytesIO(data), short_side=224)

    assert decoded.size[0] < decoded.size[1]
    assert oriented_size(PILImage.open(io.BytesIO(data))) == (1200, 1600)


def test_upload_validation_reports_the_original_size_and_keeps_a_reduced_picture() -> None:
    inspected = inspect_image(photo((4000, 3000)))

    assert (inspected.width, inspected.height) == (4000, 3000)
    assert max(inspected.image.size) >= 384
    assert min(inspected.image.size) >= 336
    assert max(inspected.image.size) < 4000


def test_a_truncated_jpeg_is_still_refused_when_decoded_in_draft_mode() -> None:
    data = photo((4000, 3000))

    with pytest.raises(InvalidImage) as refused:
        inspect_image(data[: len(data) // 2])

    assert refused.value.code == "corrupt_image"


def test_draft_decoding_keeps_the_embedding_of_a_full_decode() -> None:
    encoder = get_encoder()
    data = photo((4000, 3000))
    full = PILImage.open(io.BytesIO(data)).convert("RGB")
    reduced = decode_reduced(PILImage.open(io.BytesIO(data)), short_side=64)

    vectors = encoder.encode_images([full, reduced])

    assert float(vectors[0] @ vectors[1]) >= 0.99
