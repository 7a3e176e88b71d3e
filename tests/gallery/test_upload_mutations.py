"""Property: whatever is done to a valid image, an upload is a 4xx leaving nothing, or indexes.

Valid files of every accepted format and of the modes people's files come in
(1, L, P, PA, LA, RGB, RGBA, I;16, CMYK, animated, multi-page, multi-picture)
are damaged the ways files get damaged (bytes flipped, cut or inserted, the
file truncated, a chunk, segment or box duplicated, junk appended) and posted
through the API.  Never a 5xx; a refusal carries a code and stores nothing;
an accepted file must then index, since validation decodes what indexing does.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from tests.factories import picture
from tests.support.uploads import assert_refused_cleanly_or_indexed

pytestmark = pytest.mark.django_db

SIZE = (40, 30)


def _saved(image: PILImage.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _frames() -> list[PILImage.Image]:
    return [picture(size=SIZE), picture((0, 0, 200), size=SIZE, shape="square")]


def _palette_with_transparency() -> PILImage.Image:
    image = picture(size=SIZE).convert("P")
    image.info["transparency"] = image.getpixel((0, 0))  # the background
    return image


def _sixteen_bit() -> PILImage.Image:
    return picture(size=SIZE).convert("L").point(lambda v: v * 257).convert("I;16")


SEED_MAKERS: dict[str, Callable[[], bytes]] = {
    "png-1": lambda: _saved(picture(size=SIZE).convert("1"), "PNG"),
    "png-L": lambda: _saved(picture(size=SIZE).convert("L"), "PNG"),
    "png-P": lambda: _saved(picture(size=SIZE).convert("P"), "PNG"),
    "png-P-transparent": lambda: _saved(_palette_with_transparency(), "PNG"),
    "png-LA": lambda: _saved(picture(size=SIZE).convert("LA"), "PNG"),
    "png-RGB": lambda: _saved(picture(size=SIZE), "PNG"),
    "png-RGBA": lambda: _saved(picture(size=SIZE).convert("RGBA"), "PNG"),
    "png-I;16": lambda: _saved(_sixteen_bit(), "PNG"),
    "png-animated": lambda: _saved(_frames()[0], "PNG", save_all=True, append_images=_frames()[1:]),
    "jpeg-L": lambda: _saved(picture(size=SIZE).convert("L"), "JPEG"),
    "jpeg-RGB": lambda: _saved(picture(size=SIZE), "JPEG"),
    "jpeg-CMYK": lambda: _saved(picture(size=SIZE).convert("CMYK"), "JPEG"),
    "jpeg-progressive": lambda: _saved(picture(size=SIZE), "JPEG", progressive=True),
    "jpeg-mpo": lambda: _saved(_frames()[0], "MPO", save_all=True, append_images=_frames()[1:]),
    "gif-P": lambda: _saved(picture(size=SIZE), "GIF"),
    "gif-transparent": lambda: _saved(_palette_with_transparency(), "GIF"),
    "gif-animated": lambda: _saved(
        _frames()[0], "GIF", save_all=True, append_images=_frames()[1:], duration=100
    ),
    "webp-RGB": lambda: _saved(picture(size=SIZE), "WEBP"),
    "webp-RGBA": lambda: _saved(picture(size=SIZE).convert("RGBA"), "WEBP", lossless=True),
    "webp-animated": lambda: _saved(
        _frames()[0], "WEBP", save_all=True, append_images=_frames()[1:]
    ),
    "heif-RGB": lambda: _saved(picture(size=SIZE), "HEIF"),
    "heif-RGBA": lambda: _saved(picture(size=SIZE).convert("RGBA"), "HEIF"),
    "avif-RGB": lambda: _saved(picture(size=SIZE), "AVIF"),
    "avif-RGBA": lambda: _saved(picture(size=SIZE).convert("RGBA"), "AVIF"),
    "tiff-1": lambda: _saved(picture(size=SIZE).convert("1"), "TIFF"),
    "tiff-L": lambda: _saved(picture(size=SIZE).convert("L"), "TIFF", compression="tiff_lzw"),
    "tiff-P": lambda: _saved(picture(size=SIZE).convert("P"), "TIFF"),
    "tiff-PA": lambda: _saved(picture(size=SIZE).convert("P").convert("PA"), "TIFF"),
    "tiff-RGB": lambda: _saved(picture(size=SIZE), "TIFF", compression="tiff_deflate"),
    "tiff-RGBA": lambda: _saved(picture(size=SIZE).convert("RGBA"), "TIFF"),
    "tiff-I;16": lambda: _saved(_sixteen_bit(), "TIFF"),
    "tiff-CMYK": lambda: _saved(picture(size=SIZE).convert("CMYK"), "TIFF"),
    "tiff-jpeg": lambda: _saved(picture(size=SIZE), "TIFF", compression="jpeg"),
    "tiff-pages": lambda: _saved(_frames()[0], "TIFF", save_all=True, append_images=_frames()[1:]),
}
SEEDS = {name: make() for name, make in SEED_MAKERS.items()}


def _units(data: bytes) -> list[tuple[int, int]]:
    """The structural units of a file (PNG chunks, JPEG segments, ISOBMFF boxes), to duplicate."""
    units: list[tuple[int, int]] = []
    if data.startswith(b"\x89PNG"):
        position = 8
        while position + 12 <= len(data):
            end = position + 12 + int.from_bytes(data[position : position + 4], "big")
            units.append((position, min(end, len(data))))
            position = end
    elif data.startswith(b"\xff\xd8"):
        position = 2
        while position + 4 <= len(data) and data[position] == 0xFF:
            end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
            units.append((position, min(end, len(data))))
            if data[position + 1] == 0xDA:  # the scan: its data runs on to the EOI
                break
            position = end
    elif data[4:8] == b"ftyp":
        position = 0
        while position + 8 <= len(data):
            size = int.from_bytes(data[position : position + 4], "big")
            if size < 8:
                break
            units.append((position, min(position + size, len(data))))
            position += size
    return units


@st.composite
def damaged_images(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "duplicate", "append"]))
        # Mostly past the signature: a file whose magic is gone is merely not an image.
        first = draw(st.sampled_from([0, 12, 12, 12]))
        at = draw(st.integers(min(first, max(0, len(data) - 1)), max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "truncate":
            del data[at:]
        elif kind == "duplicate":
            units = _units(bytes(data)) or [(at, min(len(data), at + 64))]
            start, end = draw(st.sampled_from(units))
            data[end:end] = data[start:end]
        else:
            data += draw(st.binary(min_size=1, max_size=64))
    return name, bytes(data)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=damaged_images())
def test_a_damaged_image_is_refused_cleanly_or_indexed(
    alice_api: Any, upload: Any, isolated_storage: Path, case: tuple[str, bytes]
) -> None:
    name, data = case
    assert_refused_cleanly_or_indexed(
        alice_api, upload, isolated_storage, data, "damaged.bin", name
    )


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_is_indexed_as_it_is(alice_api: Any, upload: Any, name: str) -> None:
    """The property starts from files that are valid: each must upload and index unharmed."""
    response = upload(alice_api, SEEDS[name], "seed.bin")

    assert response.status_code == 201, response.json()
    body = alice_api.get(f"/api/images/{response.json()['id']}/").json()
    assert body["status"] == "indexed", body
