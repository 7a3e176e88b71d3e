"""Images real users send are accepted, stored as sent, and indexed."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from gallery.importing import iter_image_files
from gallery.models import Image
from tests.factories import image_bytes, picture, srgb_profile

pytestmark = pytest.mark.django_db


def _indexed(client: Any, response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.json()
    body: dict[str, Any] = client.get(f"/api/images/{response.json()['id']}/").json()
    assert body["status"] == "indexed", body
    return body


def _mpo() -> bytes:
    """A Multi-Picture JPEG as cameras (a stereo pair) and phones (a gain map) write."""
    out = io.BytesIO()
    left, right = picture(size=(120, 80)), picture((0, 0, 200), size=(120, 80))
    left.save(out, format="MPO", save_all=True, append_images=[right])
    return out.getvalue()


def test_a_multi_picture_jpeg_is_accepted_as_the_jpeg_it_is(alice_api: Any, upload: Any) -> None:
    data = _mpo()
    assert PILImage.open(io.BytesIO(data)).format == "MPO"

    body = _indexed(alice_api, upload(alice_api, data, "DSCF0001.MPO"))

    assert body["format"] == "JPEG"
    assert (body["width"], body["height"]) == (120, 80)
    image = Image.objects.get(pk=body["id"])
    assert str(image.file.name).endswith(".jpg")
    with image.file.open("rb") as stored:
        assert stored.read() == data  # both frames kept, as sent


@pytest.mark.parametrize("size", [390_000, 1_000_000], ids=["390KB", "1MB"])
def test_a_jpeg_with_a_large_colour_profile_is_accepted(
    alice_api: Any, upload: Any, size: int
) -> None:
    data = image_bytes(picture(), "JPEG", icc_profile=srgb_profile(size))
    assert len(PILImage.open(io.BytesIO(data)).info["icc_profile"]) == size

    body = _indexed(alice_api, upload(alice_api, data, "camera.jpg"))

    assert body["format"] == "JPEG"


def _segment(marker: int, payload: bytes, *, extra: int = 0) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2 + extra).to_bytes(2, "big") + payload


def _photoshop_resource(resource_id: int, data: bytes) -> bytes:
    padding = b"\x00" if len(data) % 2 else b""
    return (
        b"8BIM"
        + resource_id.to_bytes(2, "big")
        + b"\x00\x00"
        + len(data).to_bytes(4, "big")
        + data
        + padding
    )


PRINT_SETTINGS_PLIST = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
    b'"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
    b'<plist version="1.0"><dict><key>com.apple.print.PageFormat.PMHorizontalRes</key>'
    b"<real>72</real></dict></plist>\n"
)


def test_a_jpeg_with_a_malformed_app14_and_an_apple_plist_in_app13_is_accepted(
    alice_api: Any, upload: Any
) -> None:
    """Photoshop keeps macOS print settings (a plist, with its doctype) in an APP13 block."""
    adobe = b"Adobe" + (100).to_bytes(2, "big") + bytes(4) + b"\x01"
    app14 = _segment(0xEE, adobe, extra=3)  # declares 3 bytes it does not have
    app13 = _segment(0xED, b"Photoshop 3.0\x00" + _photoshop_resource(0x0421, PRINT_SETTINGS_PLIST))
    jpeg = image_bytes(picture(size=(80, 60)), "JPEG")
    data = jpeg[:2] + app14 + app13 + jpeg[2:]
    PILImage.open(io.BytesIO(data)).load()  # libjpeg reads it, resyncing after APP14

    body = _indexed(alice_api, upload(alice_api, data, "edited.jpg"))

    assert body["format"] == "JPEG"


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_an_avif_is_indexed(alice_api: Any, upload: Any, mode: str) -> None:
    data = image_bytes(picture(size=(120, 80)).convert(mode), "AVIF")

    body = _indexed(alice_api, upload(alice_api, data, "a.avif"))

    assert (body["format"], body["width"], body["height"]) == ("AVIF", 120, 80)
    assert str(Image.objects.get(pk=body["id"]).file.name).endswith(".avif")


@pytest.mark.parametrize(
    ("mode", "save"),
    [
        ("RGB", {}),
        ("RGB", {"compression": "tiff_lzw"}),
        ("RGB", {"compression": "tiff_deflate"}),
        ("RGB", {"compression": "jpeg"}),
        ("CMYK", {}),
        ("L", {"compression": "packbits"}),
    ],
    ids=["raw", "lzw", "deflate", "jpeg", "cmyk", "grey-packbits"],
)
def test_a_tiff_is_indexed(alice_api: Any, upload: Any, mode: str, save: dict[str, Any]) -> None:
    data = image_bytes(picture(size=(120, 80)).convert(mode), "TIFF", **save)

    body = _indexed(alice_api, upload(alice_api, data, "scan.tif"))

    assert (body["format"], body["width"], body["height"]) == ("TIFF", 120, 80)
    assert str(Image.objects.get(pk=body["id"]).file.name).endswith(".tiff")


def test_a_multi_page_tiff_is_indexed_from_its_first_page(alice_api: Any, upload: Any) -> None:
    pages = [picture(size=(120, 80)), picture((0, 0, 200), size=(60, 40))]
    data = image_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert getattr(PILImage.open(io.BytesIO(data)), "n_frames", 1) == 2

    body = _indexed(alice_api, upload(alice_api, data, "pages.tiff"))

    assert (body["width"], body["height"]) == (120, 80)


def _tiff_directory(data: bytes) -> tuple[int, dict[int, bytes]]:
    """(offset, entries by tag) of a little-endian TIFF's first directory."""
    at = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[at : at + 2], "little")
    entries = [data[at + 2 + 12 * i : at + 14 + 12 * i] for i in range(count)]
    return at, {int.from_bytes(entry[:2], "little"): entry for entry in entries}


def _tiff_with_a_huge_directory() -> bytes:
    """15,000 private tags in the first directory (Pillow reads each; their data is inline)."""
    data = image_bytes(picture(size=(120, 80)), "TIFF")
    _, tags = _tiff_directory(data)
    for tag in range(50_000, 65_000):
        tags[tag] = struct.pack("<HHL4s", tag, 3, 1, b"\x01\x00\x00\x00")  # SHORT 1
    directory = struct.pack("<H", len(tags)) + b"".join(tags[t] for t in sorted(tags)) + bytes(4)
    return data[:4] + len(data).to_bytes(4, "little") + data[8:] + directory


def _tiff_with_a_long_page_chain() -> bytes:
    """200,000 empty directories chained after the first page: never walked, never decoded."""
    data = bytearray(image_bytes(picture(size=(120, 80)), "TIFF"))
    at, tags = _tiff_directory(bytes(data))
    next_pointer = at + 2 + 12 * len(tags)
    first = len(data)
    data[next_pointer : next_pointer + 4] = first.to_bytes(4, "little")
    pages = 200_000
    for page in range(pages):
        following = first + 6 * (page + 1) if page < pages - 1 else 0
        data += struct.pack("<HL", 0, following)
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [_tiff_with_a_huge_directory(), _tiff_with_a_long_page_chain()],
    ids=["huge-directory", "long-page-chain"],
)
def test_a_tiff_with_a_huge_directory_or_page_chain_is_judged_by_its_first_page(
    alice_api: Any, upload: Any, data: bytes
) -> None:
    body = _indexed(alice_api, upload(alice_api, data, "odd.tif"))

    assert (body["format"], body["width"], body["height"]) == ("TIFF", 120, 80)


def test_bulk_import_finds_avif_and_mpo_files(tmp_path: Path) -> None:
    for name in ("a.avif", "b.MPO", "c.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")

    found = sorted(p.name for p in iter_image_files(tmp_path))

    assert found == ["a.avif", "b.MPO", "c.tif"]
