"""Decoding near the needed size: draft-mode JPEGs, reduced PNGs, EXIF orientation, and
every mode, transparency, bit depth and colour profile an upload can bring.

The vectors these pictures give are held to the reference's, file by file,
in tests/gallery/test_decode_parity.py; these pin the behaviour pixel by pixel.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageCms

from encoder.clip import ClipEncoder
from encoder.preprocess import ClipPreprocessor, source_geometry
from gallery.decoding import DRAFT_HEADROOM, decode_reduced, open_reduced, oriented_size
from gallery.indexing import decode_short_side
from gallery.validation import InvalidImage, inspect_image
from tests.factories import image_bytes, picture
from tests.support.icc import rotated_profile


def photo(size: tuple[int, int], fmt: str = "JPEG", **save: object) -> bytes:
    """A photo-like image: a smooth colour field with a shape on it."""
    rng = np.random.default_rng(3)
    low = PILImage.fromarray(rng.integers(0, 255, (4, 6, 3), dtype=np.uint8))
    image = low.resize(size, PILImage.Resampling.BICUBIC)
    image.paste(picture((230, 20, 20), (size[0] // 2, size[1] // 2)), (size[0] // 4, size[1] // 4))
    return image_bytes(image, fmt, **save)


def decoded(data: bytes, short_side: int = 80) -> PILImage.Image:
    return open_reduced(io.BytesIO(data), short_side=short_side)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_no_smaller_than_needed() -> None:
    decoded = open_reduced(io.BytesIO(photo((4000, 3000))), short_side=224)

    # Needed: 299x224, times DRAFT_HEADROOM 1.5 is 449x336; libjpeg's 1/8 still covers it.
    assert decoded.size == (500, 375)
    assert decoded.mode == "RGB"


def test_a_jpeg_keeps_draft_headroom_over_what_the_thumbnail_and_model_need() -> None:
    decoded = open_reduced(io.BytesIO(photo((4000, 3000))), short_side=224, long_side=384)

    # Needed: 384x288 (the thumbnail's long side); 1/8 (500x375) would leave
    # less than 1.5x, so libjpeg decodes at 1/4.
    assert decoded.size == (1000, 750)
    assert min(decoded.size) >= DRAFT_HEADROOM * 288


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
    # The geometry the model's resize uses is the upright original's.
    assert source_geometry(decoded)[0] == (1200, 1600)


@pytest.mark.parametrize(
    ("mode", "size", "fmt"),
    [
        ("P", (2880, 1800), "PNG"),  # a palette screenshot
        ("1", (640, 480), "PNG"),  # a bilevel scan
        ("1", (480, 320), "GIF"),
        ("I;16", (2400, 1800), "PNG"),  # a 16-bit greyscale scan
        ("L", (2000, 1500), "PNG"),
    ],
)
def test_modes_reduce_refuses_are_decoded_and_reduced(
    mode: str, size: tuple[int, int], fmt: str
) -> None:
    image = picture(size=size).convert("L" if mode == "I;16" else mode)
    if mode == "I;16":
        image = PILImage.fromarray(np.asarray(image, dtype=np.uint16) * 257)
    data = image_bytes(image, fmt)

    out = decoded(data)

    assert out.mode == "RGB"
    assert 2 * 80 <= min(out.size) < min(size)


def test_an_animated_gif_gives_its_first_frame_reduced() -> None:
    frames = [picture(colour, (480, 360)).quantize(64) for colour in [(230, 20, 20), (20, 20, 230)]]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80)

    out = decoded(data, short_side=80)

    assert out.size == (240, 180)
    red, _, blue = np.asarray(out, dtype=int)[90, 120]
    assert red > 200
    assert blue < 60


def transparent_rgba(size: tuple[int, int] = (2000, 1500)) -> PILImage.Image:
    """Left half: transparent black (as editors store it). Right half: red at half opacity."""
    pixels = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    pixels[:, size[0] // 2 :] = (255, 0, 0, 128)
    return PILImage.fromarray(pixels, "RGBA")


@pytest.mark.parametrize(
    "kind", ["RGBA PNG", "RGBA WebP", "LA PNG", "P PNG with tRNS", "GIF transparent index"]
)
def test_transparent_pixels_are_composited_onto_white_before_the_reduction(kind: str) -> None:
    image = transparent_rgba()
    if kind == "LA PNG":
        image = image.convert("LA")
    elif kind == "P PNG with tRNS":
        image = image.quantize(4)  # a palette with alpha: PNG writes it as tRNS
    elif kind == "GIF transparent index":
        image = image.convert("RGB").quantize(4)
        image.info["transparency"] = image.getpixel((0, 0))  # the black of the left half
    fmt = {"RGBA WebP": "WEBP", "GIF transparent index": "GIF"}.get(kind, "PNG")
    save = {"lossless": True} if fmt == "WEBP" else {}

    out = np.asarray(decoded(image_bytes(image, fmt, **save)), dtype=int)

    height, width = out.shape[:2]
    np.testing.assert_array_equal(out[height // 2, width // 4], (255, 255, 255))
    right = out[height // 2, 3 * width // 4]
    if kind == "LA PNG":  # red at half opacity, in grey: 76 over white
        assert abs(right - (76 + 255) / 2).max() <= 2
    elif kind == "GIF transparent index":  # GIF has one transparent index, no partial alpha
        assert right[0] > 200
    else:
        assert abs(right - (255, 127, 127)).max() <= 2


def test_a_transparent_colour_or_grey_value_becomes_white() -> None:
    grey = PILImage.new("L", (800, 600), 40)
    grey.paste(0, (0, 0, 400, 600))
    rgb = PILImage.new("RGB", (800, 600), (0, 90, 0))
    rgb.paste((10, 20, 30), (0, 0, 400, 600))

    for image, transparent in ((grey, 0), (rgb, (10, 20, 30))):
        out = np.asarray(decoded(image_bytes(image, "PNG", transparency=transparent)), dtype=int)

        np.testing.assert_array_equal(out[150, 50], (255, 255, 255))
        assert out[150, -50].max() < 100


def test_16_bit_greyscale_is_scaled_to_8_bits_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 2400, dtype=np.uint16)[None, :].repeat(1800, axis=0)
    image = PILImage.fromarray(ramp)
    assert image.mode == "I;16"

    out = np.asarray(decoded(image_bytes(image, "PNG")), dtype=int)

    row = out[out.shape[0] // 2, :, 0]
    assert row[0] <= 2
    assert row[-1] >= 253
    assert abs(row[len(row) // 2] - 128) <= 2  # clipping would make this 255


def test_16_bit_greyscale_with_a_transparent_value_becomes_white_there() -> None:
    values = np.full((600, 800), 20000, dtype=np.uint16)
    values[:, :400] = 1234
    data = image_bytes(PILImage.fromarray(values), "PNG", transparency=1234)

    out = np.asarray(decoded(data), dtype=int)

    np.testing.assert_array_equal(out[150, 50], (255, 255, 255))
    assert abs(out[150, -50] - round(20000 / 257)).max() <= 1


def test_an_embedded_profile_is_converted_to_srgb() -> None:
    # In the rotated profile, device (200, 10, 10) is about sRGB (10, 200, 10).
    image = PILImage.new("RGB", (1600, 1200), (200, 10, 10))
    for data in (
        image_bytes(image, "JPEG", quality=95, icc_profile=rotated_profile()),
        image_bytes(image.convert("RGBA"), "PNG", icc_profile=rotated_profile()),
        image_bytes(transparent_rgba((1600, 1200)), "PNG", icc_profile=rotated_profile()),
    ):
        out = np.asarray(decoded(data), dtype=int)

        right = out[out.shape[0] // 2, 3 * out.shape[1] // 4]
        assert right[1] > right[0] + 50, right  # the half-opaque red turned green, then on white
        assert "icc_profile" not in decoded(data).info  # a saved thumbnail must not re-apply it


def test_cmyk_is_converted_by_its_profile_or_else_by_pillow() -> None:
    from tests.support.icc import cmyk_profile

    ink = (100, 50, 20, 30)
    image = PILImage.new("CMYK", (1600, 1200), ink)
    converted = ImageCms.profileToProfile(
        PILImage.new("CMYK", (1, 1), ink),
        ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile())),
        ImageCms.createProfile("sRGB"),
        outputMode="RGB",
    )
    assert converted is not None
    by_profile = np.asarray(converted, dtype=int)[0, 0]
    by_pillow = np.asarray(PILImage.new("CMYK", (1, 1), ink).convert("RGB"), dtype=int)[0, 0]
    assert np.abs(by_profile - by_pillow).max() > 10  # the two conversions differ

    with_profile = decoded(image_bytes(image, "JPEG", quality=95, icc_profile=cmyk_profile()))
    without = decoded(image_bytes(image, "JPEG", quality=95))

    assert with_profile.mode == without.mode == "RGB"
    assert np.abs(np.asarray(with_profile, dtype=int)[50, 50] - by_profile).max() <= 3
    assert np.abs(np.asarray(without, dtype=int)[50, 50] - by_pillow).max() <= 3


@pytest.mark.parametrize("profile", [b"not a colour profile", "rgb-on-grey"])
def test_a_profile_that_cannot_apply_is_ignored(profile: bytes | str) -> None:
    if profile == "rgb-on-grey":
        profile = rotated_profile()
    assert isinstance(profile, bytes)
    image = PILImage.new("L", (800, 600), 90)

    out = decoded(image_bytes(image, "PNG", icc_profile=profile))

    assert out.getpixel((10, 10)) == (90, 90, 90)


def test_a_reduced_picture_resizes_for_the_model_like_its_original() -> None:
    """2035 px reduced by 3 is 679 px, not 678.33: resized from that size, the
    model's input would be 304 px wide, not 303, and every edge would move."""
    full = picture((20, 20, 20), (2035, 1500), shape="square", background=(240, 240, 240))
    processor = ClipPreprocessor.from_config({"size": {"shortest_edge": 224}})

    out = decoded(image_bytes(full, "PNG", compress_level=1), short_side=224)

    assert out.size == (679, 500)
    assert source_geometry(out) == ((2035, 1500), (2035 / 3, 500.0))
    expected = processor.resized(full).astype(int)
    difference = np.abs(processor.resized(out).astype(int) - expected)
    assert difference.shape == expected.shape == (224, 303, 3)
    assert difference.max() <= 12  # box then bicubic differs from bicubic only at the edges
    assert difference.mean() < 0.2
    out.info.clear()  # as the reduced size alone would have it
    assert processor.resized(out).shape == (224, 304, 3)


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
    encoder = ClipEncoder(settings.CLIP_MODEL, device="cpu", precision="fp32")
    data = photo((4000, 3000))
    full = PILImage.open(io.BytesIO(data)).convert("RGB")
    reduced = decode_reduced(PILImage.open(io.BytesIO(data)), short_side=decode_short_side(encoder))

    vectors = encoder.encode_images([full, reduced])

    assert max(reduced.size) <= 500
    assert float(vectors[0] @ vectors[1]) >= 0.999
