"""Celery tasks: thin, idempotent, JSON arguments only."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from clipsite.metrics import INDEX_SECONDS, timed
from gallery.models import Image
from workers.encoder import EncoderUnavailable
from workers.indexing import image_index, stale_pending_images
from workers.reconcile import reconcile
from workers.vectorstore import VectorStoreUnavailable

logger = logging.getLogger(__name__)


class IndexTask(Task):  # type: ignore[type-arg,unused-ignore]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Out of retries, or an unexpected error: the image shows as failed, with why."""
        image_id = kwargs.get("image_id") or (args[0] if args else "")
        image = Image.objects.filter(pk=str(image_id)).first()
        if image is not None:
            image.mark_failed(error=f"{type(exc).__name__}: {exc}")


@shared_task(
    bind=True,
    base=IndexTask,
    acks_late=True,
    autoretry_for=(EncoderUnavailable, VectorStoreUnavailable),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.INDEX_MAX_RETRIES,
)
def index_image_task(self: Task, image_id: str) -> None:  # type: ignore[type-arg,unused-ignore]
    """Encode and store one image. Exits quietly if the row is gone."""
    image = Image.objects.select_related(None).filter(pk=image_id).first()
    if image is None:
        return
    with timed(INDEX_SECONDS):
        image_index(image=image)


@shared_task
def requeue_stale_task(minutes: int = 15) -> int:
    """Queue again the images whose indexing message was lost (run by beat)."""
    ids = stale_pending_images(older_than=timedelta(minutes=minutes))
    for image_id in ids:
        index_image_task.delay(image_id)
    return len(ids)


@shared_task
def reconcile_task() -> dict[str, int]:
    """Periodic repair of rows, files and vectors (run by beat)."""
    report = reconcile(check_files=False)
    return {"requeued": len(report.requeued), "orphans": len(report.orphan_vectors_removed)}
