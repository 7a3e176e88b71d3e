"""Attacks on the upload path: every one is a 400 with a specific code, and leaves nothing."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import PngImagePlugin

from gallery.models import Image
from tests.conftest import stored_files
from tests.factories import image_bytes, picture, srgb_profile

pytestmark = pytest.mark.django_db


def _png_with_text(key: str, value: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    out = io.BytesIO()
    picture().save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _rejected(response: Any, code: str, media: Path) -> None:
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == code
    assert Image.objects.count() == 0
    assert stored_files(media) == []


def test_heic_from_an_iphone_is_accepted(alice_api: Any, upload: Any) -> None:
    out = io.BytesIO()
    picture(size=(80, 60)).save(out, format="HEIF")

    response = upload(alice_api, out.getvalue(), "IMG_0001.HEIC")

    assert response.status_code == 201, response.json()
    assert response.json()["format"] == "HEIF"
    assert Image.objects.get().file.name.endswith(".heic")


def test_animated_gif_is_indexed_from_its_first_frame(alice_api: Any, upload: Any) -> None:
    frames = [picture((200, 0, 0)), picture((0, 0, 200))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)

    response = upload(alice_api, out.getvalue(), "anim.gif")

    assert response.status_code == 201
    assert response.json()["format"] == "GIF"


@pytest.mark.parametrize(
    "data",
    [
        image_bytes(picture()) + b"<html><script>alert(1)</script></html>",
        image_bytes(picture(), "JPEG") + b"PK\x03\x04" + b"\x00" * 40,
        image_bytes(picture(), "JPEG") + b"%PDF-1.7\n",
        image_bytes(picture(), "GIF") + b"<?php system($_GET['c']); ?>",
        _png_with_text("Comment", "<script>steal()</script>"),
    ],
    ids=["png+html", "jpeg+zip", "jpeg+pdf", "gif+php", "png-text-script"],
)
def test_polyglot_files_are_refused(
    alice_api: Any, upload: Any, isolated_storage: Path, data: bytes
) -> None:
    _rejected(upload(alice_api, data, "innocent.png"), "polyglot_file", isolated_storage)


def test_a_motion_photo_with_video_after_the_jpeg_is_accepted(alice_api: Any, upload: Any) -> None:
    data = image_bytes(picture(), "JPEG") + b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64

    assert upload(alice_api, data, "PXL_motion.jpg").status_code == 201


def test_huge_metadata_is_refused(alice_api: Any, upload: Any, isolated_storage: Path) -> None:
    data = _png_with_text("Description", "x" * 400_000)

    _rejected(upload(alice_api, data), "metadata_too_large", isolated_storage)


@pytest.mark.parametrize("size", [(6000, 2), (2, 6000)])
def test_absurd_dimensions_are_refused(
    alice_api: Any, upload: Any, isolated_storage: Path, size: tuple[int, int]
) -> None:
    data = image_bytes(PILImage.new("RGB", size, (1, 2, 3)))

    _rejected(upload(alice_api, data), "bad_dimensions", isolated_storage)


def test_decompression_bomb_is_refused_from_its_header(
    alice_api: Any, upload: Any, isolated_storage: Path
) -> None:
    bomb = io.BytesIO()
    PILImage.new("1", (12_000, 12_000)).save(bomb, format="PNG", optimize=True)
    assert len(bomb.getvalue()) < 100_000  # tiny on disk, 144 megapixels decoded

    _rejected(upload(alice_api, bomb.getvalue()), "image_too_large", isolated_storage)


def test_a_text_file_named_jpg_is_refused_whatever_its_content_type(
    alice_api: Any, isolated_storage: Path, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("photo.jpg", b"just some words\n" * 10, content_type="image/jpeg")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post("/api/images/", {"file": fake}, format="multipart")

    _rejected(response, "not_an_image", isolated_storage)


SEEDS = [
    image_bytes(picture(size=(40, 30))),
    image_bytes(picture(size=(40, 30)), "JPEG"),
    image_bytes(picture(size=(40, 30)), "GIF"),
    image_bytes(picture(size=(40, 30)), "WEBP"),
]


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated_images())
def test_fuzzed_uploads_never_fail_with_a_500_or_leave_anything(
    alice_api: Any, upload: Any, isolated_storage: Path, data: bytes
) -> None:
    before_rows = set(Image.objects.values_list("pk", flat=True))
    before_files = set(stored_files(isolated_storage))

    response = upload(alice_api, data, "fuzz.bin")

    assert response.status_code in {201, 400, 409}, response.content[:300]
    assert "error" in response.json() or response.status_code == 201
    if response.status_code != 201:
        assert set(Image.objects.values_list("pk", flat=True)) == before_rows
        assert set(stored_files(isolated_storage)) == before_files
    else:
        assert Image.objects.get(pk=response.json()["id"]).status in {"indexed", "failed"}


# Files no decoder should turn into a 500, nor into a row that then fails to index.


def _dds_with_an_unimplemented_pixel_format() -> bytes:
    """A DirectDraw Surface header whose FourCC Pillow does not implement.

    Pillow's DDS plugin raises NotImplementedError from `open()`, which is
    none of OSError, ValueError or SyntaxError.
    """
    header = bytearray(124)
    header[0:4] = (124).to_bytes(4, "little")  # header size
    header[4:8] = (0x1 | 0x2 | 0x4 | 0x1000).to_bytes(4, "little")  # caps, height, width, format
    header[8:12] = (16).to_bytes(4, "little")  # height
    header[12:16] = (16).to_bytes(4, "little")  # width
    header[72:76] = (32).to_bytes(4, "little")  # pixel format size
    header[76:80] = (0x4).to_bytes(4, "little")  # DDPF_FOURCC
    header[80:84] = b"ZZZZ"  # no such FourCC
    return b"DDS " + bytes(header) + bytes(256)


def _isobmff_boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Top-level boxes of a HEIF/AVIF file: type -> (payload start, end)."""
    boxes, position = {}, 0
    while position + 8 <= len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        boxes[data[position + 4 : position + 8]] = (position + 8, position + size)
        position += size
    return boxes


def _avif_with_damaged_pixels() -> bytes:
    """An AVIF whose header is sound and whose AV1 data is not: libavif says RuntimeError."""
    data = bytearray(image_bytes(picture(size=(80, 60)), "AVIF"))
    start, _ = _isobmff_boxes(bytes(data))[b"mdat"]
    data[start : start + 16] = b"\xff" * 16
    return bytes(data)


def test_a_file_whose_decoder_raises_not_implemented_is_a_400(
    alice_api: Any, upload: Any, isolated_storage: Path
) -> None:
    data = _dds_with_an_unimplemented_pixel_format()
    with pytest.raises(NotImplementedError):
        PILImage.open(io.BytesIO(data))

    _rejected(upload(alice_api, data, "texture.dds"), "unsupported_format", isolated_storage)


def test_an_avif_whose_codec_raises_runtime_error_is_a_400(
    alice_api: Any, upload: Any, isolated_storage: Path
) -> None:
    data = _avif_with_damaged_pixels()
    with pytest.raises(RuntimeError):
        PILImage.open(io.BytesIO(data)).load()

    _rejected(upload(alice_api, data, "photo.avif"), "corrupt_image", isolated_storage)


def _png_chunk(data: bytes, kind: bytes) -> tuple[int, int]:
    """(start, length) of the first `kind` chunk of a PNG."""
    position = 8
    while data[position + 4 : position + 8] != kind:
        position += 12 + int.from_bytes(data[position : position + 4], "big")
    return position, int.from_bytes(data[position : position + 4], "big")


def _png_with_bad_idat_checksum() -> bytes:
    data = bytearray(image_bytes(picture(size=(40, 30))))
    start, length = _png_chunk(bytes(data), b"IDAT")
    data[start + 8 + length] ^= 0xFF  # the first byte of its CRC
    return bytes(data)


def _png_with_broken_data_stream() -> bytes:
    """A flipped byte inside IDAT, with the CRC made to match: only inflating finds it."""
    data = bytearray(image_bytes(picture(size=(40, 30))))
    start, length = _png_chunk(bytes(data), b"IDAT")
    data[start + 8 + length // 2] ^= 0xFF
    crc = zlib.crc32(bytes(data[start + 4 : start + 8 + length]))
    data[start + 8 + length : start + 12 + length] = crc.to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        _png_with_bad_idat_checksum(),
        _png_with_broken_data_stream(),
        image_bytes(picture(size=(40, 30)))[:-4],
        image_bytes(picture(size=(40, 30)))[:-7],
        image_bytes(picture(size=(40, 30)))[:-12],
    ],
    ids=["idat-crc", "idat-stream", "iend-crc-cut", "iend-cut", "no-iend"],
)
def test_a_damaged_png_is_refused_at_upload_not_failed_at_indexing(
    alice_api: Any, upload: Any, isolated_storage: Path, data: bytes
) -> None:
    _rejected(upload(alice_api, data, "broken.png"), "corrupt_image", isolated_storage)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "HEIF", "AVIF", "TIFF"])
def test_a_file_cut_in_its_pixel_data_is_refused_in_every_format(
    alice_api: Any, upload: Any, isolated_storage: Path, fmt: str
) -> None:
    whole = image_bytes(picture(size=(200, 150)), fmt)

    response = upload(alice_api, whole[: len(whole) * 2 // 3], f"cut.{fmt.lower()}")

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] in {"corrupt_image", "not_an_image"}
    assert Image.objects.count() == 0
    assert stored_files(isolated_storage) == []


def test_a_colour_profile_over_its_own_limit_is_refused_and_named(
    alice_api: Any, upload: Any, isolated_storage: Path, settings: Any
) -> None:
    settings.UPLOAD_MAX_ICC_BYTES = 64 * 1024
    data = image_bytes(picture(), "JPEG", icc_profile=srgb_profile(100_000))

    response = upload(alice_api, data, "print.jpg")

    _rejected(response, "metadata_too_large", isolated_storage)
    assert "colour profile" in response.json()["error"]["message"]
    assert response.json()["error"]["detail"]["kinds"] == {"ICC profile": 100_000}


def _webp_with_xmp(size: int) -> bytes:
    # A JPEG's XMP is one segment (64 KB); a WebP's chunk is as large as it likes.
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b" " * size + b"</x:xmpmeta>"
    return image_bytes(picture(), "WEBP", xmp=packet)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_webp_with_xmp(300_000), "XMP"),
        (_png_with_text("Description", "x" * 300_000), "comments"),
        (image_bytes(picture(), "TIFF", tiffinfo={270: "x" * 300_000}), "TIFF tags"),
    ],
    ids=["webp-xmp", "png-description", "tiff-description"],
)
def test_oversized_metadata_is_refused_naming_its_kind(
    alice_api: Any, upload: Any, isolated_storage: Path, data: bytes, kind: str
) -> None:
    response = upload(alice_api, data)

    _rejected(response, "metadata_too_large", isolated_storage)
    error = response.json()["error"]
    assert max(error["detail"]["kinds"], key=error["detail"]["kinds"].get) == kind
    assert f"({kind} " in error["message"]


def test_a_tiff_bomb_is_refused_from_its_header(
    alice_api: Any, upload: Any, isolated_storage: Path
) -> None:
    bomb = image_bytes(PILImage.new("1", (12_000, 12_000)), "TIFF", compression="tiff_deflate")
    assert len(bomb) < 100_000

    _rejected(upload(alice_api, bomb, "scan.tif"), "image_too_large", isolated_storage)


def _jpeg_with_malformed_app14(after_eoi: bytes = b"") -> bytes:
    """A JPEG whose Adobe APP14 segment declares 3 bytes more than it has (seen from some tools)."""
    adobe = b"Adobe" + (100).to_bytes(2, "big") + bytes(4) + b"\x01"
    app14 = b"\xff\xee" + (len(adobe) + 2 + 3).to_bytes(2, "big") + adobe
    data = image_bytes(picture(size=(80, 60)), "JPEG")
    return data[:2] + app14 + data[2:] + after_eoi


ZIP = b"PK\x03\x04\x14\x00" + b"\x00" * 40
SCRIPT = b"<html><script>alert(1)</script></html>"


@pytest.mark.parametrize(
    "data",
    [
        image_bytes(picture(), "HEIF") + ZIP,
        image_bytes(picture(), "AVIF") + ZIP,
        image_bytes(picture(), "TIFF") + SCRIPT,
        _jpeg_with_malformed_app14(after_eoi=SCRIPT),
        _jpeg_with_malformed_app14(after_eoi=ZIP),
        image_bytes(picture(), "JPEG", progressive=True) + ZIP,
    ],
    ids=["heif+zip", "avif+zip", "tiff+html", "bad-app14+html", "bad-app14+zip", "progressive+zip"],
)
def test_polyglots_are_refused_in_every_format_and_past_odd_jpeg_segments(
    alice_api: Any, upload: Any, isolated_storage: Path, data: bytes
) -> None:
    _rejected(upload(alice_api, data, "innocent.jpg"), "polyglot_file", isolated_storage)


def test_a_multi_picture_jpeg_with_an_archive_after_its_last_frame_is_refused(
    alice_api: Any, upload: Any, isolated_storage: Path
) -> None:
    out = io.BytesIO()
    picture().save(out, format="MPO", save_all=True, append_images=[picture((0, 0, 200))])

    _rejected(upload(alice_api, out.getvalue() + ZIP, "3d.mpo"), "polyglot_file", isolated_storage)
