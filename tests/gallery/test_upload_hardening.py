"""Attacks on the upload path: every one is a 400 with a specific code, and leaves nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import PngImagePlugin

from gallery.models import Image
from tests.conftest import stored_files
from tests.factories import image_bytes, picture

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
