"""A model switch on the production path: `manage.py reindex` queues every image and video for
real Celery workers (PostgreSQL, Redis), follows their progress in the rows, then switches. An
owner's change made while a worker is mid-batch ends up in every collection."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from encoder import get_encoder, reset_encoder
from gallery.models import Image, VectorIndex, Video, VideoMoment
from gallery.reindexing import reindex_progress, reindex_start
from gallery.services import image_delete, image_set_visibility
from tests.factories import api_client, image_bytes, make_user, picture, upload_file
from tests.support.models import second_model
from tests.support.videos import render_video, scene_picture
from tests.support.worker import backends_waiting_on_a_lock, in_process_worker, wait_for
from vectorstore import Filter, HasId, Match, get_store

T = TypeVar("T")

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _in_thread(work: Callable[[], T]) -> T:
    """`work()` on another thread, so on another database connection."""
    results: list[T] = []

    def run() -> None:
        try:
            results.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert results, "the work failed or timed out"
    return results[0]


def _agrees_with_rows(image_ids: list[str]) -> None:
    """In every collection, each image is there with its row's visibility, or gone with it."""
    store = get_store()
    rows = Image.objects.in_bulk([uuid.UUID(i) for i in image_ids])
    for collection in store.collections():
        for image_id in map(uuid.UUID, image_ids):
            point = Filter(must=(HasId((image_id,)),))
            row = rows.get(image_id)
            if row is None:
                assert store.count(collection, point) == 0, (collection, image_id, "deleted")
                continue
            same = Filter(must=(HasId((image_id,)), Match("visibility", row.visibility)))
            assert store.count(collection, same) == store.count(collection, point) == 1, (
                collection,
                image_id,
                row.visibility,
            )


def test_reindex_on_workers_follows_changes_made_mid_batch(
    celery_worker_in_process: None, settings: Any, tmp_path: Path
) -> None:
    owner, other = make_user("owner"), make_user("other")
    client = api_client(owner)
    ids = []
    for colour in ((200, 0, 0), (0, 200, 0), (0, 0, 200)):
        data = image_bytes(picture(colour))
        response = client.post(
            "/api/images/", {"file": upload_file(data), "visibility": "public"}, format="multipart"
        )
        ids.append(response.json()["id"])
    wait_for(lambda: Image.objects.filter(status="indexed").count() == 3, "the uploads")
    hidden, deleted, kept = ids
    old = get_encoder()
    settings.CLIP_MODEL = str(second_model(tmp_path))
    try:
        new = get_encoder()
        # The owner holds the rows, as a slow request would, while the reindex is
        # queued (from its own connection, as the command would): the worker loads
        # the rows, encodes them, then waits for the lock.
        with transaction.atomic():
            rows = list(Image.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
            plan = _in_thread(reindex_start)
            assert plan.queued == 3
            wait_for(backends_waiting_on_a_lock, "the worker to block mid-batch")
            by_id = {str(row.pk): row for row in rows}
            image_set_visibility(image=by_id[hidden], visibility="private")
            image_delete(image=by_id[deleted])
        wait_for(lambda: reindex_progress(plan) == (0, 0), "the worker to finish")

        # Before the switch: both collections agree with the rows.
        assert VectorIndex.objects.get(state="active").collection == old.collection_name
        _agrees_with_rows(ids)
        assert set(get_store().collections()) >= {old.collection_name, new.collection_name}

        out = io.StringIO()
        call_command("reindex", stdout=out, stderr=io.StringIO())
        assert "Queued 0 images" in out.getvalue()
        assert "Search now reads" in out.getvalue()

        # After it: search reads the new collection, which agrees as well.
        assert VectorIndex.objects.get(state="active").collection == new.collection_name
        assert Image.objects.get(pk=kept).model_id == new.model_id
        _agrees_with_rows(ids)
        found = api_client(other).post("/api/search/", {"query": "x", "limit": 100}, format="json")
        assert [r["image"]["id"] for r in found.json()["results"]] == [kept]
    finally:
        settings.CLIP_MODEL = old.model_name
        reset_encoder()


def test_reindex_command_waits_for_the_workers_then_switches(
    celery_worker_in_process: None, settings: Any, tmp_path: Path
) -> None:
    client = api_client(make_user("waiting"))
    for colour in ((10, 200, 10), (200, 200, 10)):
        client.post(
            "/api/images/", {"file": upload_file(image_bytes(picture(colour)))}, format="multipart"
        )
    wait_for(lambda: Image.objects.filter(status="indexed").count() == 2, "the uploads")
    old = get_encoder()
    settings.CLIP_MODEL = str(second_model(tmp_path))
    try:
        out = io.StringIO()
        call_command("reindex", stdout=out, stderr=io.StringIO())

        assert "Queued 2 images and 0 videos for the workers." in out.getvalue()
        new = get_encoder()
        assert VectorIndex.objects.get(state="active").collection == new.collection_name
        assert set(Image.objects.values_list("model_id", flat=True)) == {new.model_id}
        assert get_store().count(new.collection_name) == 2
    finally:
        settings.CLIP_MODEL = old.model_name
        reset_encoder()


def test_reindex_command_waits_for_the_workers_to_move_each_video_moment(
    celery_worker_in_process: None, settings: Any, tmp_path: Path
) -> None:
    client = api_client(make_user("filmmaker"))
    shots = [(2.0, scene_picture((200, 30, 30))), (2.5, scene_picture((30, 30, 200), "circle"))]
    data = render_video(tmp_path / "film.mp4", shots, fps=12).read_bytes()
    response = client.post(
        "/api/videos/", {"file": upload_file(data, "film.mp4")}, format="multipart"
    )
    video_id = response.json()["id"]
    wait_for(lambda: Video.objects.filter(pk=video_id, status="indexed").exists(), "the upload")
    moments = list(VideoMoment.objects.filter(video_id=video_id).values_list("point_id", flat=True))
    old = get_encoder()
    settings.CLIP_MODEL = str(second_model(tmp_path))
    try:
        out = io.StringIO()
        call_command("reindex", stdout=out, stderr=io.StringIO())

        assert "Queued 0 images and 1 video for the workers." in out.getvalue()
        assert "Search now reads" in out.getvalue()
        new = get_encoder()
        active = VectorIndex.objects.get(state="active")
        assert active.collection == new.collection_name
        video = Video.objects.get(pk=video_id)
        assert (video.status, video.model_id) == ("indexed", new.model_id)
        # The switch waited for the worker to finish the video.
        assert active.activated_at is not None
        assert video.indexed_at is not None
        assert active.activated_at >= video.indexed_at
        # Each moment once in the new collection; the old one keeps them all.
        store = get_store()
        for collection in (new.collection_name, old.collection_name):
            points = Filter(must=(Match("video", video_id),))
            assert store.count(collection, points) == len(moments) >= 2
            assert store.count(collection, Filter(must=(HasId(tuple(moments)),))) == len(moments)
    finally:
        settings.CLIP_MODEL = old.model_name
        reset_encoder()


def test_reindex_without_workers_stops_waiting_and_says_how_to_resume(
    settings: Any, tmp_path: Path
) -> None:
    from clipsite.celery import app

    app.control.purge()
    with in_process_worker():
        client = api_client(make_user("stalled"))
        client.post(
            "/api/images/", {"file": upload_file(image_bytes(picture()))}, format="multipart"
        )
        wait_for(lambda: Image.objects.filter(status="indexed").count() == 1, "the upload")
    old = get_encoder()
    settings.CLIP_MODEL = str(second_model(tmp_path))
    try:
        # No worker consumes the queue now: the command must not wait forever.
        with pytest.raises(CommandError, match=r"No progress .* Run reindex again to resume"):
            call_command(
                "reindex", "--stall-minutes", "0.05", stdout=io.StringIO(), stderr=io.StringIO()
            )
        assert VectorIndex.objects.get(state="active").collection == old.collection_name
    finally:
        app.control.purge()
        settings.CLIP_MODEL = old.model_name
        reset_encoder()
