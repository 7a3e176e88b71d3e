"""Uploads on a real S3 server (SeaweedFS on 127.0.0.1), through django-storages."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery.models import Image
from tests.factories import image_bytes, picture
from tests.support.seaweedfs import S3Server, create_bucket, seaweedfs_s3

pytestmark = [pytest.mark.s3, pytest.mark.django_db]

BUCKET = "clipsearch-test"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs_s3(tmp_path_factory.mktemp("seaweedfs")) as server:
        create_bucket(server, BUCKET)
        yield server


@pytest.fixture
def s3_storage(settings: Any, s3_server: S3Server, tmp_path: Path) -> S3Server:
    from clipsite.config import storages_config

    settings.STORAGES = storages_config(
        {
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            "AWS_S3_REGION_NAME": s3_server.region,
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_LOCATION": tmp_path.name,  # a prefix per test
        },
        tmp_path,
    )
    return s3_server


def _objects(server: S3Server, prefix: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback only)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_upload_stores_private_objects_served_by_expiring_signed_urls(
    alice_api: Any, upload: Any, s3_storage: S3Server, tmp_path: Path
) -> None:
    data = image_bytes(picture())
    image_id = upload(alice_api, data).json()["id"]

    keys = _objects(s3_storage, tmp_path.name)
    assert len(keys) == 2
    assert Image.objects.get(pk=image_id).status == Image.Status.INDEXED

    redirect = alice_api.get(f"/api/images/{image_id}/file/")
    assert redirect.status_code == 302
    signed = redirect["Location"]
    assert "X-Amz-Signature=" in signed
    assert "X-Amz-Expires=" in signed
    assert _fetch(signed) == (200, data)
    unsigned = signed.split("?")[0]
    assert _fetch(unsigned)[0] == 403


def test_rejected_upload_leaves_no_object(
    alice_api: Any, upload: Any, s3_storage: S3Server, tmp_path: Path
) -> None:
    response = upload(alice_api, image_bytes(picture(), "JPEG")[:200], "bad.jpg")

    assert response.status_code == 400
    assert _objects(s3_storage, tmp_path.name) == []
    assert Image.objects.count() == 0


def test_delete_removes_objects_from_s3(
    alice_api: Any,
    upload: Any,
    s3_storage: S3Server,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.delete(f"/api/images/{image_id}/").status_code == 204

    assert _objects(s3_storage, tmp_path.name) == []


def test_readyz_checks_s3(s3_storage: S3Server) -> None:
    from django.test import Client

    response = Client().get("/readyz")
    assert response.json()["checks"]["storage"] == {"status": "ok"}


def test_upload_while_s3_is_down_is_a_clean_503_with_no_row(
    alice_api: Any, upload: Any, settings: Any, tmp_path: Path
) -> None:
    from clipsite.config import storages_config

    with seaweedfs_s3(tmp_path / "short-lived") as server:
        create_bucket(server, BUCKET)
        settings.STORAGES = storages_config(
            {
                "AWS_STORAGE_BUCKET_NAME": BUCKET,
                "AWS_S3_ENDPOINT_URL": server.endpoint_url,
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
                "AWS_S3_REGION_NAME": server.region,
                "AWS_S3_ADDRESSING_STYLE": "path",
            },
            tmp_path,
        )
        assert upload(alice_api, image_bytes(picture((1, 1, 1)))).status_code == 201
    # The server is stopped now.
    response = upload(alice_api, image_bytes(picture((2, 2, 2))))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert Image.objects.count() == 1
