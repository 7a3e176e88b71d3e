"""`manage.py backfill_text` on the production path: the batches go to real Celery workers
through Redis (PostgreSQL rows), and the command follows their progress in the rows."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command

from gallery.backfill import backfill_enqueue
from gallery.models import Image
from tests.factories import api_client, image_bytes, make_user, upload_file
from tests.support.photos import as_before_text_search, require_ocr, words_picture
from tests.support.worker import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_backfill_queues_batches_for_the_workers_and_follows_them(
    celery_worker_in_process: None, settings: Any
) -> None:
    require_ocr()
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    client = api_client(make_user("owner"))
    ids = []
    for word in ("HOTEL", "BAKERY", "TICKETS"):
        data = image_bytes(words_picture([word]))
        response = client.post("/api/images/", {"file": upload_file(data)}, format="multipart")
        ids.append(response.json()["id"])
    wait_for(lambda: Image.objects.filter(status="indexed").count() == 3, "the uploads")
    for image_id in ids:
        as_before_text_search(image_id)

    out = io.StringIO()
    command = "gallery.management.commands.backfill_text.backfill_enqueue"
    with mock.patch(command, wraps=backfill_enqueue) as queued:
        call_command("backfill_text", "--batch-size", "2", stdout=out, stderr=io.StringIO())

    # Two batches went through the broker; the worker did the work.
    assert queued.call_count == 2

    assert "Backfilled 3 images." in out.getvalue()
    rows = Image.objects.filter(pk__in=ids)
    assert all(row.text_indexed_at is not None for row in rows)
    assert "BAKERY" in rows.get(pk=ids[1]).recognised_text
    found = client.post("/api/search/", {"query": "bakery", "mode": "text"}, format="json")
    assert [r["image"]["id"] for r in found.json()["results"]] == [ids[1]]
