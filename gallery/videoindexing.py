"""Indexing a video: its moments become points in the store, a batch at a time, resumably.

The worker reads the stored file at a local path (PyAV seeks in it; from S3,
a temporary copy streamed to disk), finds the moments (`gallery.moments`),
encodes their keyframes in the model's batches, screens each one, and writes
each batch's points, thumbnails and rows before the next: the video's
`indexed_until` and `progress` move as it goes, and an interrupted video
resumes after its last stored moment. A moment's point id is derived from
(video, start), so a batch written twice is stored once.

As for images, the rows are re-read under a lock after each batch's upserts,
and the store follows a visibility change, a moderation decision or a delete
made meanwhile; `gallery.videos` takes the same lock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.iterables import batched
from encoder import ClipEncoder
from gallery.files import delete_stored_files, store_file, stored_local_path
from gallery.indexes import index_encoders
from gallery.indexing import decode_short_side, vectors_held_or_encoded
from gallery.models import Image, Video, VideoMoment
from gallery.moderation import concept_scores, moderation_flag
from gallery.moments import Moment, video_moments
from gallery.validation import make_thumbnail
from gallery.videoprobe import InvalidVideo, video_probe
from vectorstore import Filter, HasId, VectorPoint, VectorStore, get_store

logger = logging.getLogger(__name__)

# Named rather than imported: `workers` sits above this layer and imports it.
VIDEO_TASK = "workers.tasks.index_video_task"
MOMENT_THUMBNAIL_SIZE = 256


def video_enqueue(*, video_id: str, headers: Mapping[str, str] | None = None) -> None:
    """Queue one video for the video task (a worker, or this process without a broker)."""
    current_app.signature(VIDEO_TASK, args=(video_id,)).apply_async(headers=dict(headers or {}))


def video_index(*, video_id: str) -> Video | None:
    """Index the video's moments from where it stopped; mark it indexed, or failed with why.

    Where it stopped is `indexed_until`, or the first moment before it that a
    collection it writes to lacks: after a model change (`manage.py reindex`)
    the new model's collection has none, so the video starts again from 0,
    and the collection search reads keeps its points (rewritten with the
    vectors it holds) until the switch. Idempotent: a moment's point id is
    derived from the video and its start.

    A store or encoder outage passes through (the task retries; the moments
    stored so far stay, and the retry resumes after them). A file that no
    longer decodes marks the video failed.
    """
    video = Video.objects.filter(pk=video_id).first()
    if video is None:
        return None
    encoders = index_encoders()
    store = get_store()
    start = _resume_at(video, encoders=encoders, store=store)
    fields: dict[str, Any] = {"status": Video.Status.INDEXING, "error": ""}
    if start < video.indexed_until:
        # This run starts before where the last one stopped: the row says so,
        # and its progress is this run's.
        video.indexed_until = start
        fields["indexed_until"] = start
        fields["progress"] = min(1.0, start / video.duration) if video.duration else 0.0
    Video.objects.filter(pk=video.pk).update(**fields)
    try:
        with stored_local_path(video.file.name or "") as path:
            info = video_probe(path)
            side = _frame_side(encoders[0], info.width, info.height)
            moments = video_moments(
                path,
                info,
                frame_side=side,
                interval=settings.VIDEO_FRAME_INTERVAL,
                max_moments=settings.VIDEO_MAX_MOMENTS,
                start=start,
            )
            for batch in batched(moments, encoders[0].batch_size):
                if not _store_moments(video, batch, encoders=encoders, store=store):
                    return None  # deleted meanwhile
    except InvalidVideo as exc:  # the file no longer probes or decodes
        _mark_failed(video, exc.message)
        return video
    except FileNotFoundError:
        _mark_failed(video, "The stored file is missing.")
        return video
    with transaction.atomic():
        row = Video.objects.select_for_update().filter(pk=video.pk).first()
        if row is None:
            return None
        row.status, row.progress, row.error = Video.Status.INDEXED, 1.0, ""
        row.model_id, row.indexed_at = encoders[0].model_id, timezone.now()
        row.save(update_fields=["status", "progress", "error", "model_id", "indexed_at"])
    logger.info("Indexed video in %d moments with %s", row.moments_indexed, row.model_id)
    return row


def video_index_give_up(*, video_id: str, error: Exception) -> None:
    """Out of retries: the video shows as failed, with why; a reindex queues it again."""
    video = Video.objects.filter(pk=video_id).first()
    if video is not None:
        _mark_failed(video, f"{type(error).__name__}: {error}")


def video_point_ids(video: Video) -> list[UUID]:
    """The store's ids of every moment of `video` written so far."""
    return list(video.moments.values_list("point_id", flat=True))


def _store_moments(
    video: Video,
    batch: Sequence[Moment],
    *,
    encoders: Sequence[ClipEncoder],
    store: VectorStore,
) -> bool:
    """Encode, screen and write one batch of moments; False if the video was deleted."""
    frames = [moment.frame for moment in batch]
    ids = [VideoMoment.point_for(video.pk, moment.start) for moment in batch]
    # The other collections (the one search reads during a model switch)
    # reuse the vectors they hold: a reindex encodes each moment once.
    vectors = [encoders[0].encode_images(frames)] + [
        vectors_held_or_encoded(encoder=encoder, store=store, ids=ids, pictures=frames)
        for encoder in encoders[1:]
    ]
    crossed = [
        [
            f"{name} ({cosine:.3f})"
            for name, cosine, threshold in concept_scores(encoders[0], vector)
            if cosine >= threshold
        ]
        for vector in vectors[0]
    ]
    written = video.moment_payload(0.0, 0.0)
    for encoder, encoded in zip(encoders, vectors, strict=True):
        store.upsert(
            encoder.collection_name,
            [
                VectorPoint(id=point, vector=vector, payload=video.moment_payload(m.start, m.end))
                for point, vector, m in zip(ids, encoded, batch, strict=True)
            ],
        )
    prefix = f"moments/{video.pk.hex[:2]}/{video.pk.hex}"
    thumbnails = [
        store_file(
            f"{prefix}/{round(m.start * 1000):09d}.webp",
            make_thumbnail(m.frame, MOMENT_THUMBNAIL_SIZE),
        )
        for m in batch
    ]
    with transaction.atomic():
        row = Video.objects.select_for_update().filter(pk=video.pk).first()
        if row is None:
            store.delete(ids)
            transaction.on_commit(lambda: delete_stored_files(thumbnails))
            return False
        replaced = []
        for moment, point, thumbnail, flags in zip(batch, ids, thumbnails, crossed, strict=True):
            old = VideoMoment.objects.filter(video=row, start=moment.start).first()
            if old is not None and old.thumbnail.name != thumbnail:
                replaced.append(old.thumbnail.name or "")
            VideoMoment.objects.update_or_create(
                video=row,
                start=moment.start,
                defaults={
                    "end": moment.end,
                    "point_id": point,
                    "thumbnail": thumbnail,
                    "flagged": ", ".join(flags)[:500],
                },
            )
        # The first moment that crosses flags the video, once (not again per batch).
        if any(crossed) and row.moderation != Image.Moderation.FLAGGED:
            first = next(n for n, flags in enumerate(crossed) if flags)
            reason = f"moment at {batch[first].start:.1f} s matches {crossed[first][0]}"
            moderation_flag(row=row, reason=reason)
        # Another writer (visibility, review) may have changed the row since the read above.
        now = row.moment_payload(0.0, 0.0)
        changed = {k: now[k] for k in ("visibility", "hidden") if now[k] != written[k]}
        if changed or row.is_hidden:
            store.set_payload(video_point_ids(row), {k: now[k] for k in ("visibility", "hidden")})
        row.indexed_until = batch[-1].end
        row.moments_indexed = row.moments.count()
        row.progress = min(1.0, row.indexed_until / row.duration) if row.duration else 1.0
        row.save(update_fields=["indexed_until", "moments_indexed", "progress"])
        if replaced:
            transaction.on_commit(lambda: delete_stored_files(replaced))
    return True


def _resume_at(video: Video, *, encoders: Sequence[ClipEncoder], store: VectorStore) -> float:
    """Where indexing `video` goes on: `indexed_until`, or the start of the first moment
    before it that one of `encoders`' collections lacks (a new model's, during a reindex)."""
    stored = list(
        video.moments.filter(start__lt=video.indexed_until)
        .order_by("start")
        .values_list("start", "point_id")
    )
    ids = [point for _, point in stored]
    resume = video.indexed_until
    for encoder in encoders:
        collection = encoder.collection_name
        if not ids or store.count(collection, Filter(must=(HasId(tuple(ids)),))) == len(ids):
            continue
        held = store.retrieve_vectors(collection, ids)
        resume = min(resume, next((start for start, point in stored if point not in held), resume))
    return resume


def _frame_side(encoder: ClipEncoder, width: int, height: int) -> int:
    """The long side a keyframe needs so that its short side is the model's input."""
    short = decode_short_side(encoder)
    return max(short, math.ceil(short * max(width, height) / max(1, min(width, height))))


def _mark_failed(video: Video, error: str) -> None:
    # On `video` too: `video_index` returns it, and its caller reads the outcome there.
    video.status, video.error = Video.Status.FAILED, error[:2000]
    Video.objects.filter(pk=video.pk).update(status=video.status, error=video.error)
    logger.warning("Indexing video %s failed: %s", video.pk, error)
