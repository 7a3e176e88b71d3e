"""Celery tasks: thin, idempotent, JSON arguments only. Each calls one service.

`index_image_task` and `backfill_text_task` run on the `index` queue (the
workers that decode and recognise), the rest on
`maintenance` (settings.CELERY_TASK_ROUTES). Every task has the soft and hard
time limits of settings.CELERY_TASK_SOFT_TIME_LIMIT / CELERY_TASK_TIME_LIMIT.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from uuid import UUID

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery_batches import Batches, SimpleRequest
from django.conf import settings

from core.metrics import INDEX_SECONDS, timed
from encoder import EncoderUnavailable
from gallery.backfill import images_backfill_text
from gallery.indexing import image_index_give_up, images_claim_stale, images_index_by_id
from gallery.reconcile import reconcile_ranges, reconcile_vectors
from gallery.videoindexing import video_index, video_index_give_up
from search.feedback import feedback_prune
from vectorstore import VectorStoreUnavailable

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
    outage or the soft time limit is queued again on its own with exponential
    backoff, and marked failed with the reason after `INDEX_MAX_RETRIES` tries.
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


@shared_task(acks_late=True)
def index_video_task(video_id: str, attempt: int = 0) -> None:
    """Index one video's moments, resuming after those already stored.

    An outage (store, encoder, storage) retries with backoff, from where the
    video stopped; after `INDEX_MAX_RETRIES` tries the video is marked failed.
    A long video that reaches the soft time limit continues in a new task
    from its last stored batch, which is not a failure.
    """
    try:
        with timed(INDEX_SECONDS):
            video_index(video_id=video_id)
    except SoftTimeLimitExceeded:
        index_video_task.apply_async(kwargs={"video_id": video_id, "attempt": attempt})
    except (EncoderUnavailable, VectorStoreUnavailable, OSError) as exc:
        if attempt + 1 > settings.INDEX_MAX_RETRIES:
            video_index_give_up(video_id=video_id, error=exc)
            return
        logger.warning("Indexing video %s failed (%s); retry %d", video_id, exc, attempt + 1)
        index_video_task.apply_async(
            kwargs={"video_id": video_id, "attempt": attempt + 1}, countdown=_backoff(attempt + 1)
        )


def _backoff(attempt: int) -> float:
    """5 s, 10 s, 20 s ... up to 10 minutes, with jitter so retries do not arrive together."""
    return random.uniform(0.5, 1.0) * min(600.0, 5.0 * 2 ** (attempt - 1))


@shared_task
def requeue_stale_task(minutes: int | None = None) -> int:
    """Queue again the images whose indexing message was lost (run by beat).

    Pending for longer than `minutes` (`INDEX_REQUEUE_MINUTES`), and claimed
    as they are selected (`images_claim_stale`), so a sweep within the window
    queues none of them again. Returns how many it queued.
    """
    window = timedelta(minutes=minutes if minutes is not None else settings.INDEX_REQUEUE_MINUTES)
    ids = images_claim_stale(older_than=window)
    for image_id in ids:
        index_image_task.delay(image_id)
    return len(ids)


@shared_task
def reconcile_task() -> int:
    """Periodic repair of rows and vectors (run by beat): one `reconcile_chunk_task` per id
    range of about `RECONCILE_CHUNK_ROWS` images. Returns how many it queued."""
    ranges = reconcile_ranges()
    for start, stop in ranges:
        reconcile_chunk_task.delay(str(start) if start else None, str(stop) if stop else None)
    return len(ranges)


@shared_task
def reconcile_chunk_task(start: str | None, stop: str | None) -> dict[str, int]:
    """Repair the rows and vectors with ids in `[start, stop)` (None: open). Idempotent."""
    report = reconcile_vectors(
        start=UUID(start) if start else None, stop=UUID(stop) if stop else None
    )
    return {"requeued": report.requeued, "orphans": report.orphan_vectors_removed}


@shared_task(acks_late=True)
def backfill_text_task(image_ids: list[str], recognise_text: bool = True) -> int:
    """Build the text side of images indexed before it existed (`manage.py backfill_text`)."""
    return images_backfill_text(image_ids=image_ids, recognise_text=recognise_text)


@shared_task
def feedback_prune_task() -> int:
    """Delete search feedback older than `FEEDBACK_RETENTION_DAYS` (run daily by beat).
    Idempotent; returns how many rows went."""
    return feedback_prune()
