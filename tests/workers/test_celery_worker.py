"""The production path: PostgreSQL, Redis as broker and cache, and a real Celery worker.

`scripts/test` runs these in its service phase, with DATABASE_URL,
CELERY_BROKER_URL and REDIS_URL set. The worker runs in this process
(`start_worker`), so one process owns the embedded vector store.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from gallery.models import Image
from tests.factories import api_client, image_bytes, make_user, picture, upload_file
from tests.support.worker import in_process_worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _wait_for(image_id: str, status: str, timeout: float = 120) -> Image:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        image = Image.objects.get(pk=image_id)
        if image.status == status:
            return image
        time.sleep(0.2)
    raise AssertionError(f"image {image_id} stayed {image.status!r}, wanted {status!r}")


def test_services_are_the_real_ones() -> None:
    assert connection.vendor == "postgresql"
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")


def test_upload_is_indexed_by_a_worker_consuming_the_redis_queue(
    celery_worker_in_process: None, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    alice = api_client(make_user("alice"))
    data = image_bytes(picture((20, 120, 220), shape="square"))

    response = alice.post(
        "/api/images/", {"file": upload_file(data)}, format="multipart", HTTP_X_REQUEST_ID="req-42"
    )

    assert response.status_code == 201
    # The web request only queued the work; the worker does it.
    assert response.json()["status"] == "pending"
    image = _wait_for(response.json()["id"], Image.Status.INDEXED)
    from encoder.clip import get_encoder

    assert image.model_id == get_encoder().model_id
    found = alice.post(
        "/api/search/image/", {"file": upload_file(data), "top_k": 1}, format="multipart"
    ).json()["results"]
    assert found[0]["image"]["id"] == str(image.id)
    # The request id travelled with the task to the worker's log lines.
    indexed = [r for r in caplog.records if r.getMessage().startswith("Indexed image")]
    assert [(r.request_id, r.image_id) for r in indexed] == [("req-42", str(image.id))]  # type: ignore[attr-defined]


def test_the_worker_coalesces_queued_uploads_into_batches(
    celery_worker_in_process: None,
) -> None:
    """Messages queued together reach the model together (celery-batches), each image
    still ending indexed on its own row."""
    from prometheus_client import REGISTRY

    def encoded() -> tuple[float, float]:
        labels = {"kind": "image"}
        return (
            REGISTRY.get_sample_value("clipsearch_encoder_batch_size_count", labels) or 0.0,
            REGISTRY.get_sample_value("clipsearch_encoder_batch_size_sum", labels) or 0.0,
        )

    alice = api_client(make_user("alice"))
    calls_before, images_before = encoded()
    ids = [
        alice.post(
            "/api/images/",
            {"file": upload_file(image_bytes(picture((n * 30, 90, 200 - n * 20), (80 + n, 60))))},
            format="multipart",
        ).json()["id"]
        for n in range(6)
    ]

    for image_id in ids:
        _wait_for(image_id, Image.Status.INDEXED)
    calls, images = encoded()
    assert images - images_before == 6
    assert calls - calls_before < 6  # fewer forwards than images: they were batched


def test_readyz_sees_postgres_redis_cache_and_broker(db: Any) -> None:
    from django.test import Client

    checks = Client().get("/readyz").json()["checks"]

    assert checks["database"]["status"] == "ok"
    assert checks["cache"]["status"] == "ok"
    assert checks["broker"]["status"] == "ok"


def test_metrics_and_the_status_page_count_the_queued_tasks(db: Any) -> None:
    from django.test import Client

    from clipsite.celery import app

    app.control.purge()
    client = api_client(make_user("queued"))
    for colour in ((1, 2, 3), (4, 5, 6), (7, 8, 9)):
        data = image_bytes(picture(colour))
        client.post("/api/images/", {"file": upload_file(data)}, format="multipart")
    try:
        metrics = Client().get("/metrics").content.decode()
        assert "clipsearch_queue_depth 3.0" in metrics
        staff = Client()
        staff.force_login(make_user("ops", is_staff=True))
        page = staff.get("/staff/status/").content.decode()
        assert '<p class="stat__big" data-queue>3</p>' in page
    finally:
        app.control.purge()


def test_queued_but_lost_tasks_are_requeued_by_the_sweep() -> None:
    """An upload whose message is lost from the broker (flushed, or a Redis restart
    without persistence) stays pending until the sweep queues it again."""
    from datetime import timedelta

    from django.utils import timezone

    from clipsite.celery import app
    from encoder.clip import get_encoder
    from gallery.services import image_create
    from vectorstore import get_store
    from workers.tasks import requeue_stale_task

    app.control.purge()
    # No worker is consuming yet, so the upload's message waits in Redis...
    image = image_create(
        owner=make_user("bob"), upload=upload_file(image_bytes(picture((1, 99, 5))))
    )
    # ...until it is lost: the one message the upload queued, and nothing else.
    assert app.control.purge() == 1
    Image.objects.filter(pk=image.pk).update(uploaded_at=timezone.now() - timedelta(hours=1))

    with in_process_worker():
        # Longer than a batch's flush interval: a worker with a message would have
        # started on it by now.
        time.sleep(settings.INDEX_COALESCE_SECONDS + 2)
        assert Image.objects.get(pk=image.pk).status == Image.Status.PENDING

        assert requeue_stale_task.apply(kwargs={"minutes": 15}).get() == 1
        indexed = _wait_for(str(image.pk), Image.Status.INDEXED, timeout=60)

    encoder = get_encoder()
    assert indexed.model_id == encoder.model_id
    assert image.pk in get_store().retrieve_vectors(encoder.collection_name, [image.pk])


def test_parallel_uploads_and_searches_lose_nothing(
    celery_worker_in_process: None, live_server: Any
) -> None:
    """Many clients at once against a running server: no 500s, no lost images, and the
    database, the stored files and the vectors agree at the end."""
    import json
    import urllib.error
    import urllib.request
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from django.core.files.storage import default_storage
    from rest_framework_simplejwt.tokens import RefreshToken

    from encoder.clip import get_encoder
    from vectorstore import get_store

    users = [make_user(f"user{i}") for i in range(4)]
    tokens = [str(RefreshToken.for_user(u).access_token) for u in users]

    def call(token: str, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 (loopback)
            live_server.url + path,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def client_work(index: int) -> list[tuple[int, Any]]:
        outcomes = []
        for n in range(6):
            data = image_bytes(picture((index * 60, n * 40, 100), size=(64 + n, 48)))
            boundary = uuid.uuid4().hex
            body = (
                (
                    f"--{boundary}\r\nContent-Disposition: form-data; "
                    f'name="file"; filename="p{n}.png"\r\n'
                    "Content-Type: image/png\r\n\r\n"
                ).encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            )
            outcomes.append(
                call(
                    tokens[index], "/api/images/", body, f"multipart/form-data; boundary={boundary}"
                )
            )
            outcomes.append(
                call(tokens[index], "/api/search/", b'{"query": "a picture"}', "application/json")
            )
        return outcomes

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = [o for result in pool.map(client_work, range(4)) for o in result]

    assert all(status < 500 for status, _ in outcomes), [o for o in outcomes if o[0] >= 500]
    uploaded = {body["id"] for status, body in outcomes if status == 201}
    assert len(uploaded) == 24
    for image_id in uploaded:
        _wait_for(image_id, Image.Status.INDEXED)
    images = Image.objects.all()
    assert {str(i.pk) for i in images} == uploaded
    assert all(
        default_storage.exists(i.file.name) and default_storage.exists(i.thumbnail.name)
        for i in images
    )
    vectors = {str(i) for i in get_store().iter_ids(get_encoder().collection_name)}
    assert vectors == uploaded
