"""Faults with the real services: a worker killed mid-run, Redis restarted with tasks queued,
and the vector store down then back. No image is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction

from encoder.clip import get_encoder
from gallery.models import Image, Video
from tests.factories import api_client, image_bytes, make_user, picture, upload_file
from tests.support.videos import render_video, scene_picture
from tests.support.worker import backends_waiting_on_a_lock, in_process_worker, wait_for
from vectorstore import EdgeStore, Filter, Match, get_store, reset_store

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _upload_many(count: int, prefix: int = 0) -> list[str]:
    client = api_client(make_user(f"faults{prefix}"))
    ids = []
    for n in range(count):
        data = image_bytes(
            picture(((n * 37) % 255, prefix * 50, (n * 11) % 255), size=(200 + n, 150))
        )
        response = client.post("/api/images/", {"file": upload_file(data)}, format="multipart")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def _statuses(ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Image.objects.filter(pk__in=ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def _wait_all_indexed(ids: list[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _statuses(ids).get("indexed") == len(ids):
            return
        time.sleep(0.5)
    raise AssertionError(f"not all indexed: {_statuses(ids)}")


def _worker(tmp_path: Path, name: str, **extra: str) -> subprocess.Popen[bytes]:
    """A real `celery worker` process on the test database and the test's vector store."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "QDRANT_EDGE_PATH": settings.VECTOR_STORE["OPTIONS"]["path"],
        "CLIPSEARCH_DATA_DIR": str(
            Path(settings.STORAGES["default"]["OPTIONS"]["location"]).parent
        ),
        "CELERY_VISIBILITY_TIMEOUT": "5",
        # Small batches, so a kill lands while some images are done and others are not.
        "INDEX_COALESCE_MAX": "2",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clipsite",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-n",
            f"{name}@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _media_settings_for_workers(settings_fixture: Any, tmp_path: Path) -> None:
    """Worker processes read media from CLIPSEARCH_DATA_DIR/media; point this process there too."""
    settings_fixture.STORAGES = {
        **settings_fixture.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "data" / "media")},
        },
    }


def test_a_worker_killed_mid_run_loses_no_task(settings: Any, tmp_path: Path) -> None:
    from clipsite.celery import app

    _media_settings_for_workers(settings, tmp_path)
    app.control.purge()
    reset_store()  # the worker processes open the embedded store, one at a time
    ids = _upload_many(12)
    # Row locks on all but the first batch: the worker indexes two images, then
    # blocks writing the third, so the kill always lands mid-run, with a batch
    # in flight, however fast the model is.
    with transaction.atomic():
        list(Image.objects.select_for_update().filter(pk__in=ids[2:]))
        first = _worker(tmp_path, "first")
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (
                _statuses(ids).get("indexed", 0) >= 2 and backends_waiting_on_a_lock()
            ):
                time.sleep(0.2)
            os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown: a task dies in flight
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        assert _statuses(ids) == {"indexed": 2, "pending": 10}

    time.sleep(6)  # past the visibility timeout: unacknowledged tasks become deliverable
    second = _worker(tmp_path, "second")
    try:
        _wait_all_indexed(ids)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)


def test_a_worker_killed_mid_video_resumes_it_and_stores_each_moment_once(
    settings: Any, tmp_path: Path
) -> None:
    from clipsite.celery import app

    _media_settings_for_workers(settings, tmp_path)
    app.control.purge()
    reset_store()
    rng = random.Random(11)
    shots = [
        (1.5, scene_picture((rng.randrange(256), rng.randrange(256), rng.randrange(256))))
        for _ in range(40)
    ]
    film = render_video(tmp_path / "long.mp4", shots, fps=8).read_bytes()
    client = api_client(make_user("filmmaker"))
    response = client.post(
        "/api/videos/", {"file": upload_file(film, "long.mp4")}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    video_id = response.json()["id"]

    first = _worker(tmp_path, "first", CLIP_BATCH_SIZE="2")
    try:
        wait_for(
            lambda: Video.objects.get(pk=video_id).moments_indexed >= 2,
            "the first batches of moments",
        )
        # Hold the row: the worker blocks writing its next batch, so the kill
        # lands mid-video with some moments stored, however fast the model is.
        with transaction.atomic():
            Video.objects.select_for_update().get(pk=video_id)
            wait_for(backends_waiting_on_a_lock, "the worker to wait on the video's row")
            os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown: the task dies in flight
            first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    halfway = Video.objects.get(pk=video_id)
    assert halfway.status == Video.Status.INDEXING
    assert 2 <= halfway.moments_indexed < len(shots)
    stored = set(halfway.moments.values_list("start", flat=True))

    time.sleep(6)  # past the visibility timeout: the unacknowledged task is delivered again
    second = _worker(tmp_path, "second", CLIP_BATCH_SIZE="2")
    try:
        wait_for(
            lambda: Video.objects.get(pk=video_id).status == Video.Status.INDEXED,
            "the video to be indexed by the second worker",
            timeout=180,
        )
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)

    done = Video.objects.get(pk=video_id)
    starts = list(done.moments.order_by("start").values_list("start", flat=True))
    assert stored <= set(starts)  # the moments stored before the kill were kept
    assert len(starts) == done.moments_indexed >= len(shots)  # a moment at every cut, at least
    reset_store()  # the workers have let go of the embedded store
    collection = get_encoder().collection_name
    points = get_store().count(collection, Filter(must=(Match("video", video_id),)))
    assert points == len(starts)  # each moment once in the store


def test_redis_restarted_with_tasks_queued_loses_no_image(celery_worker_later: Any) -> None:
    ids = _upload_many(4, prefix=1)
    assert _statuses(ids) == {"pending": 4}

    _restart_redis()  # it keeps nothing on disk: the queued tasks are gone

    from workers.tasks import requeue_stale_task

    with celery_worker_later():
        assert requeue_stale_task.apply(kwargs={"minutes": 0}).get() == 4
        _wait_all_indexed(ids)


def test_store_down_then_back_is_retried_with_backoff(
    celery_worker_later: Any, settings: Any, tmp_path: Path
) -> None:
    holder_path = Path(settings.VECTOR_STORE["OPTIONS"]["path"])
    reset_store()
    holder = EdgeStore(str(holder_path))
    holder.ensure_collection(get_encoder().collection_name, get_encoder().dim)
    with celery_worker_later():
        ids = _upload_many(1, prefix=2)
        time.sleep(3)
        assert _statuses(ids) == {"pending": 1}  # failed once, waiting to retry
        holder.close()
        _wait_all_indexed(ids, timeout=120)


@pytest.fixture
def celery_worker_later() -> Any:
    from clipsite.celery import app

    app.control.purge()
    return in_process_worker


def _restart_redis() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False, timeout=30)
    time.sleep(1)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/tmp",
            "--logfile",
            "/tmp/redis-test.log",
        ],
        check=True,
        timeout=30,
    )
    for _ in range(50):
        if (
            subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, check=False
            ).stdout.strip()
            == b"PONG"
        ):
            return
        time.sleep(0.2)
    raise AssertionError("Redis did not come back")
