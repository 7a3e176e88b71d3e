"""Uploads on a real S3 server (SeaweedFS on 127.0.0.1), through django-storages.

Images, and videos: a real rendered video larger than boto3's multipart
threshold goes up in parts, is indexed from the bucket by the real demo CLIP
model, is served by signed URLs with byte ranges, and leaves nothing behind
when deleted.
"""

from __future__ import annotations

import math
import random
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from demo import render_pil
from demo.scenes import sample_scene
from gallery.files import stored_local_path
from gallery.models import Image, Video
from tests.factories import image_bytes, picture
from tests.support.seaweedfs import S3Server, create_bucket, seaweedfs_s3
from tests.support.videos import render_video

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
    status, body, _ = _get(url)
    return status, body


def _get(url: str, **headers: str) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, b"", exc.headers


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


# Fourteen one-second scenes at 1280x720, grainy so that each keyframe stays
# large: about 9.7 MB, above boto3's 8 MiB multipart threshold, which the
# project leaves at its default (no AWS_S3_TRANSFER_CONFIG).
FILM_SCENES = 14


@pytest.fixture(scope="module")
def big_film(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    rng, grain = random.Random(3), np.random.default_rng(3)
    scenes = []
    for _ in range(FILM_SCENES):
        drawn = np.asarray(render_pil(sample_scene(rng), 1280, 720, rng), dtype=np.int16)
        noisy = np.clip(drawn + grain.normal(0, 40, drawn.shape), 0, 255).astype(np.uint8)
        scenes.append((1.0, PILImage.fromarray(noisy)))
    path = tmp_path_factory.mktemp("film") / "film.mp4"
    return render_video(path, scenes, size=(1280, 720)).read_bytes()


def _key(name: str, tmp_path: Path) -> str:
    """The object key of a stored name (the storage prefixes its location)."""
    return f"{tmp_path.name}/{name}"


@pytest.mark.slow
def test_a_large_video_goes_up_in_parts_and_is_indexed_from_the_bucket(
    alice_api: Any, post_video: Any, s3_storage: S3Server, tmp_path: Path, big_film: bytes
) -> None:
    transfer = default_storage.transfer_config
    assert len(big_film) > transfer.multipart_threshold

    response = post_video(alice_api, big_film)

    assert response.status_code == 201
    video = Video.objects.get(pk=response.json()["id"])
    assert (video.status, video.error) == (Video.Status.INDEXED, "")
    thumbnails = [m.thumbnail.name for m in video.moments.all()]
    assert video.moments_indexed == len(thumbnails) >= FILM_SCENES
    file_key = _key(video.file.name, tmp_path)
    expected = {file_key, _key(video.poster.name, tmp_path)}
    expected |= {_key(name, tmp_path) for name in thumbnails}
    assert set(_objects(s3_storage, tmp_path.name)) == expected
    # A multipart upload's ETag is "<md5 of the parts' md5s>-<number of parts>".
    head = s3_storage.client().head_object(Bucket=BUCKET, Key=file_key)
    parts = math.ceil(len(big_film) / transfer.multipart_chunksize)
    assert parts >= 2
    assert head["ETag"].strip('"').endswith(f"-{parts}")
    assert (head["ContentLength"], head["ContentType"]) == (len(big_film), "video/mp4")


@pytest.mark.slow
def test_the_video_file_url_is_a_signed_url_that_serves_byte_ranges(
    alice_api: Any, post_video: Any, s3_storage: S3Server, big_film: bytes
) -> None:
    video_id = post_video(alice_api, big_film).json()["id"]

    redirect = alice_api.get(f"/api/videos/{video_id}/file/", HTTP_RANGE="bytes=0-99")

    assert redirect.status_code == 302
    signed = redirect["Location"]
    assert "X-Amz-Signature=" in signed
    assert "X-Amz-Expires=" in signed
    size = len(big_film)
    status, body, headers = _get(signed, Range="bytes=0-99")
    assert (status, body) == (206, big_film[:100])
    assert headers["Content-Range"] == f"bytes 0-99/{size}"
    assert headers["Accept-Ranges"] == "bytes"
    # Across the boundary of the upload's first two parts, and the last bytes.
    boundary = default_storage.transfer_config.multipart_chunksize
    first, last = boundary - 50, boundary + 49
    status, body, headers = _get(signed, Range=f"bytes={first}-{last}")
    assert (status, body) == (206, big_film[first : last + 1])
    assert headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    status, body, headers = _get(signed, Range="bytes=-10")
    assert (status, body) == (206, big_film[-10:])
    assert _get(signed)[:2] == (200, big_film)
    assert _get(signed.split("?")[0], Range="bytes=0-99")[0] == 403
    poster = alice_api.get(f"/api/videos/{video_id}/poster/")
    assert poster.status_code == 302
    assert _fetch(poster["Location"])[0] == 200


@pytest.mark.slow
def test_deleting_a_video_removes_its_file_poster_and_moment_thumbnails_from_the_bucket(
    alice_api: Any,
    post_video: Any,
    s3_storage: S3Server,
    tmp_path: Path,
    big_film: bytes,
    django_capture_on_commit_callbacks: Any,
) -> None:
    video_id = post_video(alice_api, big_film).json()["id"]
    video = Video.objects.get(pk=video_id)
    stored = set(_objects(s3_storage, tmp_path.name))
    assert _key(video.file.name, tmp_path) in stored
    assert _key(video.poster.name, tmp_path) in stored
    assert len([key for key in stored if "/moments/" in key]) == video.moments_indexed > 1

    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.delete(f"/api/videos/{video_id}/").status_code == 204

    assert _objects(s3_storage, tmp_path.name) == []
    assert not Video.objects.exists()


@pytest.mark.slow
def test_a_stored_video_is_copied_out_of_the_bucket_never_whole_in_memory(
    alice_api: Any, post_video: Any, s3_storage: S3Server, big_film: bytes
) -> None:
    video_id = post_video(alice_api, big_film).json()["id"]
    name = Video.objects.get(pk=video_id).file.name

    tracemalloc.start()
    try:
        with stored_local_path(name) as path:
            _, peak = tracemalloc.get_traced_memory()
            copied = path.read_bytes()
    finally:
        tracemalloc.stop()

    assert copied == big_film
    assert peak < len(big_film)
    assert not path.exists()
    with pytest.raises(FileNotFoundError), stored_local_path("videos/gone.mp4"):
        pass


@pytest.mark.slow
def test_indexing_a_video_from_the_bucket_never_holds_it_whole_in_memory(
    alice_api: Any,
    post_video: Any,
    s3_storage: S3Server,
    big_film: bytes,
    django_capture_on_commit_callbacks: Any,
) -> None:
    video_id = post_video(alice_api, big_film).json()["id"]  # loads the model

    tracemalloc.start()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = alice_api.post(f"/api/videos/{video_id}/reindex/")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 202
    assert Video.objects.get(pk=video_id).status == Video.Status.INDEXED
    assert peak < len(big_film)
