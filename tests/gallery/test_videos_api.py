"""The videos API: upload (probed before anything is stored), read, list, change visibility,
delete, and the permission-checked file with byte ranges. Real files rendered by PyAV."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from gallery.models import Video
from tests.conftest import stored_files
from tests.factories import picture, upload_file
from tests.support.videos import render_audio_only, render_video

pytestmark = pytest.mark.django_db

RED, BLUE = (220, 30, 30), (30, 60, 220)


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    """Three seconds: red for half a second, then blue."""
    path = render_video(
        tmp_path / "clip.mp4",
        [
            (0.5, picture(RED, (160, 120), shape="circle", background=RED)),
            (2.5, picture(BLUE, (160, 120), shape="square", background=BLUE)),
        ],
        creation_time="2024-05-06T07:08:09.000000Z",
    )
    return path.read_bytes()


def post_video(client: APIClient, data: bytes, name: str = "clip.mp4", **fields: Any) -> Any:
    return client.post(
        "/api/videos/", {"file": upload_file(data, name), **fields}, format="multipart"
    )


def test_an_upload_is_probed_stored_and_described(
    alice_api: APIClient, clip: bytes, isolated_storage: Path
) -> None:
    response = post_video(alice_api, clip)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["filename"] == "clip.mp4"
    assert (body["format"], body["codec"]) == ("mp4", "h264")
    assert (body["width"], body["height"]) == (160, 120)
    assert body["duration"] == pytest.approx(3.0, abs=0.15)
    assert body["size"] == len(clip)
    assert body["taken_at"] == "2024-05-06T07:08:09Z"
    assert (body["status"], body["progress"], body["moments_indexed"]) == ("pending", 0.0, 0)
    assert body["visibility"] == "private"
    assert alice_api.get(f"/api/videos/{body['id']}/").json() == body
    # The original, stored as uploaded, and its poster.
    assert sorted(p.suffix for p in stored_files(isolated_storage)) == [".mp4", ".webp"]
    assert alice_api.get(body["url"]).getvalue() == clip


def test_the_poster_is_a_frame_from_the_video(alice_api: APIClient, clip: bytes) -> None:
    body = post_video(alice_api, clip).json()

    poster = alice_api.get(body["poster_url"])

    assert poster.status_code == 200
    image = PILImage.open(io.BytesIO(poster.getvalue())).convert("RGB")
    assert image.size == (160, 120)
    # About a second in: the second scene, past the red opening frames.
    r, _, b = image.resize((1, 1), PILImage.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    assert b > r + 100


@pytest.mark.parametrize(
    ("header", "status", "expected", "content_range"),
    [
        ("bytes=0-99", 206, slice(0, 100), "bytes 0-99/{size}"),
        ("bytes=100-", 206, slice(100, None), "bytes 100-{last}/{size}"),
        ("bytes=-50", 206, slice(-50, None), "bytes {tail}-{last}/{size}"),
        ("bytes=10-999999999", 206, slice(10, None), "bytes 10-{last}/{size}"),
        ("bytes=999999999-", 416, None, "bytes */{size}"),
        ("bytes=0-1,5-9", 200, slice(None), None),
        ("lines=1-2", 200, slice(None), None),
    ],
)
def test_the_file_serves_byte_ranges_so_players_can_seek(
    alice_api: APIClient,
    clip: bytes,
    header: str,
    status: int,
    expected: slice | None,
    content_range: str | None,
) -> None:
    url = post_video(alice_api, clip).json()["url"]

    response = alice_api.get(url, HTTP_RANGE=header)

    assert response.status_code == status
    assert response["Accept-Ranges"] == "bytes"
    size = len(clip)
    if content_range is not None:
        wanted = content_range.format(size=size, last=size - 1, tail=size - 50)
        assert response["Content-Range"] == wanted
    if expected is not None:
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        assert body == clip[expected]
        assert int(response["Content-Length"]) == len(body)


@pytest.mark.parametrize(
    ("make", "limits", "code"),
    [
        (lambda tmp: b"\x00\x01not a video at all" * 100, {}, "corrupt_video"),
        (lambda tmp: render_audio_only(tmp / "a.m4a").read_bytes(), {}, "no_video_stream"),
        (lambda tmp: _clip(tmp, codec="mpeg4"), {}, "unsupported_video_codec"),
        (lambda tmp: _clip(tmp)[: len(_clip(tmp)) // 2], {}, "corrupt_video"),
        (lambda tmp: _clip(tmp), {"VIDEO_MAX_BYTES": 2000}, "video_too_large"),
        (lambda tmp: _clip(tmp), {"VIDEO_MAX_SECONDS": 1}, "video_too_long"),
        (lambda tmp: _clip(tmp), {"VIDEO_MAX_SIDE": 100}, "video_resolution_too_high"),
        (lambda tmp: _clip(tmp), {"VIDEO_MAX_FRAME_RATE": 5}, "video_frame_rate_too_high"),
    ],
)
def test_a_refused_upload_is_a_400_with_its_code_and_stores_nothing(
    alice_api: APIClient,
    settings: Any,
    tmp_path: Path,
    isolated_storage: Path,
    make: Callable[[Path], bytes],
    limits: dict[str, int],
    code: str,
) -> None:
    data = make(tmp_path)
    for name, value in limits.items():
        setattr(settings, name, value)

    response = post_video(alice_api, data)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Video.objects.exists()
    assert stored_files(isolated_storage) == []


def test_an_upload_streamed_to_a_temporary_file_is_probed_from_there(
    alice_api: APIClient, clip: bytes, settings: Any
) -> None:
    # Above this size Django writes the upload to disk as it arrives.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = post_video(alice_api, clip)

    assert response.status_code == 201
    assert alice_api.get(response.json()["url"]).getvalue() == clip


def test_the_same_bytes_twice_are_a_409_naming_the_first(
    alice_api: APIClient, bob_api: APIClient, clip: bytes
) -> None:
    first = post_video(alice_api, clip).json()

    again = post_video(alice_api, clip, name="copy.mp4")

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_video"
    assert again.json()["error"]["detail"]["id"] == first["id"]
    assert post_video(bob_api, clip).status_code == 201  # another owner's copy is theirs


def test_others_see_a_video_only_when_it_is_public(
    alice_api: APIClient, bob_api: APIClient, clip: bytes
) -> None:
    video = post_video(alice_api, clip).json()
    urls = [f"/api/videos/{video['id']}/", video["url"], video["poster_url"]]

    assert [bob_api.get(url).status_code for url in urls] == [404, 404, 404]
    assert bob_api.get("/api/videos/").json()["results"] == []
    # Only the owner may change it.
    assert bob_api.patch(urls[0], {"visibility": "public"}, format="json").status_code == 404

    changed = alice_api.patch(urls[0], {"visibility": "public"}, format="json")

    assert changed.status_code == 200
    assert changed.json()["visibility"] == "public"
    assert [bob_api.get(url).status_code for url in urls] == [200, 200, 200]
    assert [v["id"] for v in bob_api.get("/api/videos/").json()["results"]] == [video["id"]]
    assert bob_api.get("/api/videos/?mine=1").json()["results"] == []
    assert bob_api.delete(urls[0]).status_code == 404


def test_a_bad_visibility_is_a_400(alice_api: APIClient, clip: bytes) -> None:
    video = post_video(alice_api, clip).json()

    response = alice_api.patch(
        f"/api/videos/{video['id']}/", {"visibility": "everyone"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_the_list_is_paginated_newest_first(alice_api: APIClient, tmp_path: Path) -> None:
    ids = [
        post_video(alice_api, _clip(tmp_path, colour=(40 * n, 90, 200 - 40 * n))).json()["id"]
        for n in range(3)
    ]

    page = alice_api.get("/api/videos/?page_size=2").json()

    assert page["count"] == 3
    assert [v["id"] for v in page["results"]] == ids[::-1][:2]
    assert page["next"]


def test_delete_removes_the_row_the_file_and_the_poster(
    alice_api: APIClient,
    clip: bytes,
    isolated_storage: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    video = post_video(alice_api, clip).json()

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete(f"/api/videos/{video['id']}/")

    assert response.status_code == 204
    assert not Video.objects.exists()
    assert stored_files(isolated_storage) == []


def test_signed_out_callers_get_a_401(clip: bytes) -> None:
    response = post_video(APIClient(), clip)

    assert response.status_code == 401
    assert not Video.objects.exists()


def _clip(tmp: Path, *, codec: str = "h264", colour: tuple[int, int, int] = RED) -> bytes:
    path = tmp / f"{codec}-{colour}.mp4"
    if not path.exists():
        render_video(path, [(2.0, picture(colour, (160, 120)))], codec=codec)
    return path.read_bytes()


def test_a_browser_recording_without_a_duration_is_accepted_and_indexed(
    alice_api: APIClient, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    shots = [
        (1.5, picture(RED, (160, 120), shape="circle", background=RED)),
        (2.5, picture(BLUE, (160, 120), shape="square", background=BLUE)),
    ]
    # As MediaRecorder writes it: VP9 in WebM, no duration and no seek index.
    path = render_video(
        tmp_path / "recording.webm", shots, codec="vp9", container="webm", live=True
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = post_video(alice_api, path.read_bytes(), "recording.webm")

    assert response.status_code == 201, response.json()
    assert response.json()["duration"] == pytest.approx(4.0, abs=0.15)
    video = alice_api.get(f"/api/videos/{response.json()['id']}/").json()
    assert (video["status"], video["progress"]) == ("indexed", 1.0)
    moments = Video.objects.get(pk=video["id"]).moments.order_by("start")
    assert moments.count() >= 2
    assert moments.last().end == pytest.approx(4.0, abs=0.15)  # type: ignore[union-attr]
