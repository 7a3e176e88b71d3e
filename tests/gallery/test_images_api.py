from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from encoder.clip import get_encoder
from gallery.models import Image
from tests.conftest import stored_files
from tests.factories import image_bytes, picture
from vectorstore import get_store

pytestmark = pytest.mark.django_db


def test_upload_png_is_stored_and_indexed(
    alice_api: Any, upload: Any, isolated_storage: Path
) -> None:
    response = upload(alice_api, image_bytes(picture(size=(120, 80))), "red circle.png")

    assert response.status_code == 201, response.json()
    body = alice_api.get(f"/api/images/{response.json()['id']}/").json()
    assert body["status"] == "indexed"
    assert body["format"] == "PNG"
    assert (body["width"], body["height"]) == (120, 80)
    assert body["filename"] == "red circle.png"
    assert body["visibility"] == "private"
    assert body["url"].endswith(f"/api/images/{body['id']}/file/")
    image = Image.objects.get(pk=body["id"])
    assert image.model_id == get_encoder().model_id
    assert len(stored_files(isolated_storage)) == 2  # original + thumbnail
    assert "red circle" not in image.file.name  # stored names are generated
    assert get_store().count(get_encoder().collection_name) == 1


def test_upload_jpeg_applies_exif_orientation_and_reads_taken_at(
    alice_api: Any, upload: Any
) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    exif.get_ifd(0x8769)[0x9003] = "2021:07:04 12:30:00"
    data = image_bytes(picture(size=(100, 40)), "JPEG", exif=exif.tobytes())

    body = upload(alice_api, data, "phone.jpg").json()

    assert body["format"] == "JPEG"
    assert (body["width"], body["height"]) == (40, 100)
    assert body["taken_at"].startswith("2021-07-04T12:30:00")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_every_format_gets_an_upright_thumbnail_and_indexes(
    alice_api: Any, upload: Any, fmt: str
) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 8  # stored landscape, shown rotated 90 degrees counter-clockwise
    data = image_bytes(picture(size=(300, 120)), fmt, exif=exif.tobytes())

    image_id = upload(alice_api, data, f"rotated.{fmt.lower()}").json()["id"]

    body = alice_api.get(f"/api/images/{image_id}/").json()
    assert body["status"] == "indexed"
    assert (body["width"], body["height"]) == (120, 300)
    thumbnail = alice_api.get(f"/api/images/{body['id']}/thumbnail/")
    width, height = PILImage.open(io.BytesIO(b"".join(thumbnail.streaming_content))).size
    assert width < height  # portrait, as shown, not as stored


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"this is plain text, not a picture", "not_an_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not_an_image"),
        (image_bytes(picture(), "JPEG")[:300], "corrupt_image"),
        (image_bytes(picture(), "BMP"), "unsupported_format"),
    ],
    ids=["empty", "text", "svg", "truncated-jpeg", "bmp"],
)
def test_upload_rejects_bad_files_and_leaves_nothing(
    alice_api: Any, upload: Any, isolated_storage: Path, data: bytes, code: str
) -> None:
    response = upload(alice_api, data, "evil.jpg")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert Image.objects.count() == 0
    assert stored_files(isolated_storage) == []


def test_upload_rejects_files_over_the_size_limit(
    alice_api: Any, upload: Any, settings: Any, isolated_storage: Path
) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    response = upload(alice_api, image_bytes(picture(size=(400, 400)), "BMP"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_too_large"
    assert Image.objects.count() == 0
    assert stored_files(isolated_storage) == []


def test_upload_rejects_too_many_pixels_before_decoding(
    alice_api: Any, upload: Any, settings: Any
) -> None:
    settings.UPLOAD_MAX_PIXELS = 10_000
    response = upload(alice_api, image_bytes(picture(size=(200, 200))))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_too_large"
    assert Image.objects.count() == 0


def test_exact_duplicate_is_reported_not_stored_twice(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    data = image_bytes(picture())
    first = upload(alice_api, data).json()

    again = upload(alice_api, data, "copy.png")
    other_owner = upload(bob_api, data)

    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "duplicate_image",
        "message": "You have already uploaded this exact image.",
        "detail": {"id": first["id"]},
    }
    assert other_owner.status_code == 201
    assert Image.objects.count() == 2


def test_list_is_paginated_and_shows_own_and_public_images(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    upload(alice_api, image_bytes(picture((200, 0, 0))))
    upload(bob_api, image_bytes(picture((0, 200, 0))), visibility="public")
    upload(bob_api, image_bytes(picture((0, 0, 200))))  # private

    body = alice_api.get("/api/images/").json()

    assert body["count"] == 2
    assert body["next"] is None
    assert len(body["results"]) == 2
    assert alice_api.get("/api/images/?mine=1").json()["count"] == 1


def test_other_users_private_image_is_invisible_on_every_path(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    for path in ("", "file/", "thumbnail/"):
        assert bob_api.get(f"/api/images/{image_id}/{path}").status_code == 404
    assert (
        bob_api.patch(
            f"/api/images/{image_id}/", {"visibility": "public"}, format="json"
        ).status_code
        == 404
    )
    assert bob_api.delete(f"/api/images/{image_id}/").status_code == 404
    assert bob_api.post(f"/api/images/{image_id}/reindex/").status_code == 404
    assert Image.objects.get(pk=image_id).visibility == "private"


def test_public_image_is_readable_but_not_changeable_by_others(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]

    assert bob_api.get(f"/api/images/{image_id}/").status_code == 200
    file_response = bob_api.get(f"/api/images/{image_id}/file/")
    assert file_response.status_code == 200
    assert b"".join(file_response.streaming_content).startswith(b"\x89PNG")
    assert bob_api.delete(f"/api/images/{image_id}/").status_code == 404


def test_thumbnail_is_small_webp(alice_api: Any, upload: Any, settings: Any) -> None:
    image_id = upload(alice_api, image_bytes(picture(size=(1200, 900)))).json()["id"]

    response = alice_api.get(f"/api/images/{image_id}/thumbnail/")

    thumb = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == settings.THUMBNAIL_SIZE


def test_patch_visibility_updates_row_and_vector_payload(alice_api: Any, upload: Any) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    response = alice_api.patch(f"/api/images/{image_id}/", {"visibility": "public"}, format="json")

    assert response.status_code == 200
    assert response.json()["visibility"] == "public"
    from vectorstore import Filter, Match

    public = Filter(must=(Match("visibility", "public"),))
    assert get_store().count(get_encoder().collection_name, public) == 1


def test_delete_removes_row_files_and_vector(
    alice_api: Any, upload: Any, isolated_storage: Path, django_capture_on_commit_callbacks: Any
) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete(f"/api/images/{image_id}/")

    assert response.status_code == 204
    assert not Image.objects.filter(pk=image_id).exists()
    assert stored_files(isolated_storage) == []
    assert get_store().count(get_encoder().collection_name) == 0


def test_api_requires_authentication_with_a_valid_token(db: None) -> None:
    from rest_framework.test import APIClient

    anonymous = APIClient()
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert anonymous.get("/api/images/").json()["error"]["code"] == "not_authenticated"
    response = forged.get("/api/images/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_token_endpoint_issues_tokens_that_work(alice: Any) -> None:
    from rest_framework.test import APIClient

    from tests.factories import PASSWORD

    client = APIClient()
    tokens = client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}).json()
    refreshed = client.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")

    assert client.get("/api/images/").status_code == 200
    wrong = APIClient().post("/api/auth/token/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "no_active_account"


def test_unknown_api_path_is_a_json_404(alice_api: Any) -> None:
    response = alice_api.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_upload_without_file_is_a_validation_error(alice_api: Any) -> None:
    response = alice_api.post("/api/images/", {"visibility": "public"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "file" in response.json()["error"]["detail"]
