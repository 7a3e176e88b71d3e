"""Celery tasks: thin, idempotent, JSON arguments only. Each calls one service."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from celery_batches import Batches, SimpleRequest
from django.conf import settings

from core.metrics import INDEX_SECONDS, timed
from gallery.indexing import image_index_give_up, images_index_by_id, stale_pending_images
from gallery.reconcile import reconcile

logger = logging.getLogger(__name__)


@shared_task(
    base=Batches,
    acks_late=True,
    flush_every=settings.INDEX_COALESCE_MAX,
    flush_interval=settings.INDEX_COALESCE_SECONDS,
)
def index_image_task(requests: list[SimpleRequest]) -> None:
    """Encode and store the images of every queued message in one batch.

    Each message names one image (`index_image_task.delay(image_id)`); the
    worker coalesces those queued within `INDEX_COALESCE_SECONDS`, up to
    `INDEX_COALESCE_MAX`, so a GPU sees full batches.  Messages are
    acknowledged after the batch (acks_late).  An image whose batch hit an
    outage is queued again on its own with exponential backoff, and marked
    failed with the reason after `INDEX_MAX_RETRIES` tries.
    """
    attempts: dict[str, int] = {}
    request_ids: dict[str, str] = {}
    for request in requests:
        image_id = str(request.kwargs.get("image_id") or (request.args[0] if request.args else ""))
        attempts[image_id] = int(request.kwargs.get("attempt", 0))
        origin = (request.request_dict or {}).get("request_id")
        if origin:
            request_ids[image_id] = origin
    with timed(INDEX_SECONDS):
        retry = images_index_by_id(image_ids=list(attempts), request_ids=request_ids)
    for image_id, error in retry.items():
        attempt = attempts[image_id] + 1
        if attempt > settings.INDEX_MAX_RETRIES:
            image_index_give_up(image_id=image_id, error=error)
            continue
        logger.warning("Indexing %s failed (%s); retry %d", image_id, error, attempt)
        index_image_task.apply_async(
            kwargs={"image_id": image_id, "attempt": attempt},
            countdown=_backoff(attempt),
            headers={"request_id": request_ids[image_id]} if image_id in request_ids else {},
        )


def _backoff(attempt: int) -> float:
    """5 s, 10 s, 20 s ... up to 10 minutes, with jitter so retries do not arrive together."""
    return random.uniform(0.5, 1.0) * min(600.0, 5.0 * 2 ** (attempt - 1))


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
