"""Indexing messages coalesced into one batch: per-image status and retries stay correct."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery_batches import SimpleRequest
from django.core.files.storage import default_storage
from prometheus_client import REGISTRY

from encoder.clip import get_encoder
from gallery.models import Image
from tests.factories import image_bytes, picture
from vectorstore import EdgeStore, get_store, reset_store
from workers.tasks import index_image_task

pytestmark = pytest.mark.django_db


def request(image_id: str, **kwargs: Any) -> SimpleRequest:
    return SimpleRequest(
        id=f"task-{image_id}",
        name="workers.tasks.index_image_task",
        args=(image_id,),
        kwargs=kwargs,
        delivery_info={},
        hostname="test",
        ignore_result=True,
        reply_to=None,
        correlation_id=None,
        request_dict={"request_id": f"req-{image_id[:4]}"},
    )


def pending_images(alice_api: Any, upload: Any, count: int) -> list[Image]:
    """Uploaded images put back to pending, their vectors gone: queued, not yet indexed."""
    ids = [
        upload(alice_api, image_bytes(picture((40 * n, 200 - 30 * n, 90), (90 + n, 70)))).json()[
            "id"
        ]
        for n in range(count)
    ]
    get_store().delete([image.id for image in Image.objects.filter(pk__in=ids)])
    Image.objects.filter(pk__in=ids).update(status=Image.Status.PENDING)
    return list(Image.objects.filter(pk__in=ids).order_by("uploaded_at"))


def image_batches() -> tuple[float, float]:
    labels = {"kind": "image"}
    count = REGISTRY.get_sample_value("clipsearch_encoder_batch_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("clipsearch_encoder_batch_size_sum", labels) or 0.0
    return count, total


def test_one_batch_encodes_every_queued_image_together_and_isolates_a_bad_file(
    alice_api: Any, upload: Any
) -> None:
    images = pending_images(alice_api, upload, 4)
    with default_storage.open(images[1].file.name, "wb") as handle:
        handle.write(b"garbage")
    calls_before, images_before = image_batches()

    index_image_task([request(str(image.id)) for image in images])

    statuses = {str(i.id): i.status for i in Image.objects.all()}
    assert [statuses[str(image.id)] for image in images] == [
        "indexed",
        "failed",
        "indexed",
        "indexed",
    ]
    assert "cannot be read" in Image.objects.get(pk=images[1].id).error
    calls, encoded = image_batches()
    assert (calls - calls_before, encoded - images_before) == (1, 3)  # one forward, three images
    assert get_store().count(get_encoder().collection_name) == 3


def test_a_store_outage_retries_each_image_then_marks_them_failed(
    alice_api: Any, upload: Any, settings: Any, tmp_path: Path
) -> None:
    images = pending_images(alice_api, upload, 2)
    settings.INDEX_MAX_RETRIES = 2
    path = tmp_path / "held"
    holder = EdgeStore(str(path))  # another opener holds the embedded store
    holder.ensure_collection(get_encoder().collection_name, get_encoder().dim)
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {"path": str(path)},
    }
    reset_store()
    try:
        index_image_task([request(str(image.id)) for image in images])
    finally:
        holder.close()
        reset_store()

    for image in Image.objects.filter(pk__in=[i.id for i in images]):
        assert image.status == Image.Status.FAILED
        assert "vector store" in image.error


def test_a_message_for_a_deleted_row_is_skipped_with_the_rest_indexed(
    alice_api: Any, upload: Any
) -> None:
    images = pending_images(alice_api, upload, 2)
    gone = "00000000-0000-0000-0000-000000000000"

    index_image_task([request(gone), *[request(str(image.id)) for image in images]])

    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.INDEXED}
