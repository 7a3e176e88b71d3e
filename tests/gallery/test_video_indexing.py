"""Indexing a video: its moments become points in the store, with their thumbnails and rows,
resumably; visibility, moderation and delete reach every point. Real rendered videos, the real
demo CLIP model and the embedded engine; the upload's task runs after commit, as in production
without a broker."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from demo import canonical_caption, render_pil
from demo.scenes import Scene, sample_scene
from encoder.clip import get_encoder
from gallery.models import ModerationDecision, Video, VideoMoment
from gallery.reconcile import reconcile
from gallery.videoindexing import video_index
from tests.conftest import stored_files
from tests.factories import picture, upload_file
from tests.support.videos import render_video
from vectorstore import Filter, Match, VectorStoreUnavailable, get_store

pytestmark = pytest.mark.django_db

# Seconds on screen of each scene: cuts at 1.5, 5.0 and 6.0.
LENGTHS = (1.5, 3.5, 1.0, 2.0)


def film_scenes() -> list[tuple[Scene, PILImage.Image]]:
    rng = random.Random(11)
    scenes = [sample_scene(rng) for _ in LENGTHS]
    return [(scene, render_pil(scene, 160, 120, rng)) for scene in scenes]


@pytest.fixture
def film(tmp_path: Path) -> bytes:
    shown = [
        (seconds, picture) for seconds, (_, picture) in zip(LENGTHS, film_scenes(), strict=True)
    ]
    return render_video(tmp_path / "film.mp4", shown, fps=12).read_bytes()


@pytest.fixture
def post(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    def upload(client: APIClient, data: bytes, **fields: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/videos/",
                {"file": upload_file(data, "film.mp4"), **fields},
                format="multipart",
            )

    return upload


def moment_points(video_id: str, *conditions: Match) -> int:
    scope = Filter(must=(Match("video", video_id), *conditions))
    return get_store().count(get_encoder().collection_name, scope)


def test_an_uploaded_video_is_indexed_as_its_moments(
    alice_api: APIClient, film: bytes, post: Callable[..., Any]
) -> None:
    video_id = post(alice_api, film).json()["id"]

    body = alice_api.get(f"/api/videos/{video_id}/").json()
    assert (body["status"], body["progress"], body["error"]) == ("indexed", 1.0, "")
    moments = list(VideoMoment.objects.filter(video_id=video_id))
    assert body["moments_indexed"] == len(moments) >= len(LENGTHS)
    starts = [m.start for m in moments]
    for cut in (1.5, 5.0, 6.0):
        assert min(abs(s - cut) for s in starts) <= 0.25
    # One point a moment, with where it is and who may see it.
    assert moment_points(video_id) == len(moments)
    assert moment_points(video_id, Match("kind", "video"), Match("visibility", "private")) == len(
        moments
    )
    assert all(m.thumbnail.storage.exists(m.thumbnail.name) for m in moments)


def test_a_search_shows_the_video_once_and_reconcile_leaves_its_moments(
    alice_api: APIClient, film: bytes, post: Callable[..., Any], upload: Any
) -> None:
    from tests.factories import image_bytes

    video_id = post(alice_api, film).json()["id"]
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]
    # What the film's second scene shows: its moments are nearer than the image.
    query = canonical_caption(film_scenes()[1][0])

    found = alice_api.post(
        "/api/search/", {"query": query, "limit": 10, "mode": "semantic"}, format="json"
    ).json()["results"]

    assert [r.get("video", r.get("image"))["id"] for r in found] == [video_id, image_id]
    report = reconcile(check_files=False)
    assert report.orphan_vectors_removed == 0
    assert moment_points(video_id) == Video.objects.get(pk=video_id).moments_indexed


def test_visibility_reaches_every_moment(
    alice_api: APIClient, film: bytes, post: Callable[..., Any]
) -> None:
    video_id = post(alice_api, film).json()["id"]
    count = Video.objects.get(pk=video_id).moments_indexed

    alice_api.patch(f"/api/videos/{video_id}/", {"visibility": "public"}, format="json")

    assert moment_points(video_id, Match("visibility", "public")) == count
    assert moment_points(video_id, Match("visibility", "private")) == 0


def test_delete_removes_every_point_thumbnail_and_file(
    alice_api: APIClient,
    film: bytes,
    post: Callable[..., Any],
    isolated_storage: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    video_id = post(alice_api, film).json()["id"]
    assert len(stored_files(isolated_storage)) > 2  # file, poster and a thumbnail a moment

    with django_capture_on_commit_callbacks(execute=True):
        alice_api.delete(f"/api/videos/{video_id}/")

    assert moment_points(video_id) == 0
    assert stored_files(isolated_storage) == []
    assert not VideoMoment.objects.exists()


def test_an_interrupted_video_resumes_and_stores_each_moment_once(
    alice_api: APIClient,
    film: bytes,
    post: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    encoder = get_encoder()
    monkeypatch.setattr(encoder, "batch_size", 2)
    whole = post(alice_api, film).json()["id"]
    expected = [m.start for m in VideoMoment.objects.filter(video_id=whole)]
    Video.objects.all().delete()

    # The store fails on the third batch, as a worker's store would go away mid-video.
    store = get_store()
    real_upsert = store.upsert
    calls = {"n": 0}

    def failing(collection: str, points: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise VectorStoreUnavailable("the store went away")
        real_upsert(collection, points)

    monkeypatch.setattr(store, "upsert", failing)
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the upload only queues; this test runs the work
    monkeypatch.setattr("gallery.videos.video_enqueue", lambda **kwargs: None)
    video_id = post(alice_api, film).json()["id"]
    with pytest.raises(VectorStoreUnavailable):
        video_index(video_id=video_id)
    halfway = Video.objects.get(pk=video_id)
    assert halfway.status == "indexing"
    assert 0 < halfway.progress < 1
    assert halfway.moments_indexed == 4

    video_index(video_id=video_id)

    # Resumed after the fourth moment: only the rest were encoded and written again.
    assert calls["n"] == 3 + math.ceil((len(expected) - 4) / 2)
    done = Video.objects.get(pk=video_id)
    assert done.status == "indexed"
    starts = [m.start for m in VideoMoment.objects.filter(video_id=video_id)]
    assert starts == pytest.approx(expected)
    assert moment_points(video_id) == len(expected) == done.moments_indexed


def test_a_moment_that_crosses_a_concept_flags_the_whole_video(
    alice_api: APIClient,
    bob_api: APIClient,
    post: Callable[..., Any],
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MODERATION_CONCEPTS = {"a red triangle": 0.2}
    monkeypatch.setattr(get_encoder(), "batch_size", 1)  # each crossing moment its own batch
    calm = picture((30, 60, 220), (160, 120), shape="square")
    flagged = PILImage.new("RGB", (160, 120), (245, 245, 245))
    flagged.paste(picture((220, 30, 30), (160, 120), shape="triangle"))
    path = render_video(tmp_path / "mixed.mp4", [(2.0, calm), (5.0, flagged)], fps=12)

    video_id = post(alice_api, path.read_bytes(), visibility="public").json()["id"]

    video = Video.objects.get(pk=video_id)
    assert video.moderation == "flagged"
    assert "a red triangle" in video.moderation_reason
    crossed = [m.start for m in VideoMoment.objects.filter(video_id=video_id) if m.flagged]
    assert len(crossed) >= 2
    assert min(crossed) >= 1.75
    # Screening's decision is recorded once, as an image's is, not once per batch.
    decisions = ModerationDecision.objects.filter(video_id=video_id)
    assert [(d.decision, d.decided_by) for d in decisions] == [("flagged", None)]
    assert decisions[0].reason == video.moderation_reason
    # Hidden from others in the store and in the API while it waits for review.
    assert moment_points(video_id, Match("hidden", 1)) == video.moments_indexed
    assert bob_api.get(f"/api/videos/{video_id}/").status_code == 404


def test_a_failed_video_is_shown_failed_and_indexed_again_on_request(
    alice_api: APIClient,
    film: bytes,
    post: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    video_id = post(alice_api, film).json()["id"]
    Video.objects.filter(pk=video_id).update(status="failed", error="the store went away")
    assert alice_api.get(f"/api/videos/{video_id}/").json()["status"] == "failed"

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(f"/api/videos/{video_id}/reindex/")

    assert response.status_code == 202
    body = alice_api.get(f"/api/videos/{video_id}/").json()
    assert (body["status"], body["error"], body["progress"]) == ("indexed", "", 1.0)
    assert moment_points(video_id) == body["moments_indexed"]
