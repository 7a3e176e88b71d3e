"""Indexing: image rows become vectors with their metadata in the store, by one path.

Every way an image is indexed (the upload task, a bulk import, a reindex after
a model change) ends in `images_store_encoded`: tag, screen, upsert into every
target collection, then re-read the rows under a lock and make the store follow
whatever changed meanwhile (visibility, deletion, moderation), then mark them.
Writers of those fields (`gallery.services`, `gallery.moderation`) take the
same row lock, so the two orders are the only ones there are.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import numpy as np
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image as PILImage

from core.logcontext import image_log_context
from encoder import ClipEncoder, EncoderUnavailable
from encoder.pipeline import encode_stream
from gallery.decoding import open_reduced
from gallery.indexes import index_encoders
from gallery.lexical import lexical_point
from gallery.models import Image
from gallery.moderation import image_screen
from gallery.ocr import RecognisedText, ocr_decode_side, ocr_enabled, recognise
from gallery.tagging import auto_tags
from vectorstore import VectorPoint, VectorStore, VectorStoreUnavailable, get_store

logger = logging.getLogger(__name__)

# The task that indexes queued images, named rather than imported: `workers`
# sits above this layer and imports it.
INDEX_TASK = "workers.tasks.index_image_task"


class UnreadableImage(Exception):
    """The stored file cannot be decoded; retrying will not help."""


@dataclass
class IndexOutcome:
    """What became of a batch: indexed ids, and images worth another try with the reason."""

    indexed: list[str] = field(default_factory=list)
    retry: dict[str, Exception] = field(default_factory=dict)


def image_enqueue(*, image_id: str, headers: Mapping[str, str] | None = None) -> None:
    """Queue one image for the index task (a worker, or this process without a broker)."""
    current_app.signature(INDEX_TASK, args=(image_id,)).apply_async(headers=dict(headers or {}))


def images_index_by_id(
    *, image_ids: Sequence[str], request_ids: Mapping[str, str] | None = None
) -> dict[str, Exception]:
    """`images_index` for the rows that still exist; returns the ids worth retrying.

    A row deleted since it was queued is skipped.  An unexpected error marks
    the batch's unfinished images failed with the reason (they stay visible
    and can be reindexed) instead of leaving them pending forever.
    """
    images = list(Image.objects.filter(pk__in=image_ids))
    try:
        return images_index(images=images, request_ids=request_ids).retry
    except Exception as exc:
        logger.exception("Indexing a batch of %d images failed", len(images))
        for image in Image.objects.filter(pk__in=image_ids, status=Image.Status.PENDING):
            image.mark_failed(error=f"{type(exc).__name__}: {exc}")
        return {}


def image_index_give_up(*, image_id: str, error: Exception) -> None:
    """Out of retries: the image shows as failed, with why; a reindex queues it again."""
    image = Image.objects.filter(pk=image_id).first()
    if image is not None:
        image.mark_failed(error=f"{type(error).__name__}: {error}")


def images_index(
    *, images: Sequence[Image], request_ids: Mapping[str, str] | None = None
) -> IndexOutcome:
    """Decode and encode `images` in batches, then store them (`images_store_encoded`).

    Files are decoded near the model's size in threads while the model encodes
    the previous batch (`encoder.pipeline`). Idempotent: the point id is the
    image's UUID. An undecodable file marks its image failed at once; a store
    or encoder outage, a storage read error, or the task's soft time limit puts
    the images not yet stored in `retry` (they stay pending).
    `request_ids` (image id to the id of the request that queued it) goes on
    its log lines.
    """
    outcome = IndexOutcome()
    if not images:
        return outcome
    try:
        encoders = index_encoders()
        store = get_store()
    except (EncoderUnavailable, VectorStoreUnavailable) as exc:
        outcome.retry = {str(image.id): exc for image in images}
        return outcome
    primary = encoders[0]
    short_side = decode_short_side(primary)
    reading = ocr_enabled()

    def prepare(image: Image) -> tuple[PILImage.Image, Any, RecognisedText | None]:
        # Text is recognised once an image (a model switch keeps it), on a
        # picture decoded large enough for it, in the decode threads.
        recognising = reading and image.text_indexed_at is None
        picture = load_picture(
            image.file.name or "",
            short_side=short_side,
            long_side=ocr_decode_side() if recognising else 0,
        )
        return picture, primary.prepare(picture), recognise(picture) if recognising else None

    batches = encode_stream(
        images,
        prepare=prepare,
        encode=lambda prepared: primary.encode_prepared([pixels for _, pixels, _ in prepared]),
        batch_size=primary.batch_size,
        workers=settings.INDEX_DECODE_THREADS,
        failures=(UnreadableImage, OSError),
    )
    try:
        for batch in batches:
            for image, error in batch.failures:
                if isinstance(error, UnreadableImage):
                    with image_log_context(image, (request_ids or {}).get(str(image.id))):
                        image.mark_failed(error=f"The stored file cannot be read: {error}")
                else:
                    outcome.retry[str(image.id)] = error
            if batch.items:
                images_store_encoded(
                    images=batch.items,
                    pictures=[picture for picture, _, _ in batch.prepared],
                    vectors=batch.vectors,
                    encoders=encoders,
                    store=store,
                    texts=[text for _, _, text in batch.prepared],
                    request_ids=request_ids,
                )
                outcome.indexed += [str(image.id) for image in batch.items]
    except (EncoderUnavailable, VectorStoreUnavailable, SoftTimeLimitExceeded) as exc:
        # Stored batches are committed; the rest were rolled back (the marking
        # is one transaction) and stay pending, their upserts harmless to redo.
        done = set(outcome.indexed)
        outcome.retry.update({str(i.id): exc for i in images if str(i.id) not in done})
    return outcome


def images_store_encoded(
    *,
    images: Sequence[Image],
    pictures: Sequence[PILImage.Image],
    vectors: np.ndarray,
    encoders: Sequence[ClipEncoder],
    store: VectorStore,
    texts: Sequence[RecognisedText | None] | None = None,
    request_ids: Mapping[str, str] | None = None,
) -> None:
    """Tag, screen and upsert encoded `images` (`vectors` from `encoders[0]`), then mark them.

    `texts` holds what was recognised in each picture (None: keep what the
    row holds). Each point carries its lexical vector beside CLIP's
    (`gallery.lexical`). The other encoders (the collection search reads during a model change)
    reuse the vector their collection already holds for an image and encode
    `pictures` only for the images it lacks, so a reindex encodes each image
    once. After the upserts the rows are re-read under a lock: a visibility
    change, a moderation decision or a delete made meanwhile is applied to the
    store (every collection) before the rows are marked indexed. Idempotent.
    Raises `VectorStoreUnavailable` or `EncoderUnavailable` with nothing marked.
    """
    primary = encoders[0]
    recognised = texts if texts is not None else [None] * len(images)
    for image, vector, text in zip(images, vectors, recognised, strict=True):
        image.tags = auto_tags(primary, vector)
        fields: dict[str, Any] = {"tags": image.tags}
        if text is not None:
            fields.update(image_recognised_fields(image, text))
        Image.objects.filter(pk=image.pk).update(**fields)
        image_screen(image=image, encoder=primary, vector=vector)
    written = {image.pk: _shared_fields(image) for image in images}
    lexical = {image.pk: lexical_point(image) for image in images}
    for position, encoder in enumerate(encoders):
        encoded = (
            vectors
            if position == 0
            else vectors_held_or_encoded(
                encoder=encoder, store=store, ids=[i.pk for i in images], pictures=pictures
            )
        )
        store.upsert(
            encoder.collection_name,
            [
                VectorPoint(
                    id=image.id,
                    vector=vector,
                    payload=image.vector_payload(),
                    lexical=lexical[image.pk].lexical,
                )
                for image, vector in zip(images, encoded, strict=True)
            ],
        )
    with transaction.atomic():
        # In id order, so two workers holding overlapping batches cannot deadlock.
        locked = Image.objects.select_for_update().filter(pk__in=[i.pk for i in images])
        current = {row.pk: row for row in locked.order_by("pk")}
        for image in images:
            with image_log_context(image, (request_ids or {}).get(str(image.id))):
                row = current.get(image.pk)
                if row is None:
                    store.delete([image.id])
                    continue
                changed = {
                    key: value
                    for key, value in _shared_fields(row).items()
                    if written[image.pk][key] != value
                }
                if changed:
                    store.set_payload([image.id], changed)
                now = lexical_point(row)
                if now != lexical[image.pk]:  # a caption, visibility or sharing change
                    store.set_lexical([now])
                image.mark_indexed(model_id=primary.model_id)
                logger.info(
                    "Indexed image with %s (tags: %s)",
                    primary.model_id,
                    ", ".join(image.tags) or "none",
                )


def image_recognised_fields(image: Image, text: RecognisedText) -> dict[str, Any]:
    """Set what was recognised in `image`'s picture on it; returns the fields to save.

    A recognition that did not run (`engine` ""; an engine error) leaves the
    image to be recognised again (`text_indexed_at` stays None).
    """
    image.recognised_text = text.text
    image.text_words = [
        {"t": word.text, "b": [round(v, 5) for v in word.box], "c": round(word.confidence, 1)}
        for word in text.words
    ]
    image.text_engine = text.engine[:64]
    image.text_indexed_at = timezone.now() if text.engine else None
    return {
        key: getattr(image, key)
        for key in ("recognised_text", "text_words", "text_engine", "text_indexed_at")
    }


def _shared_fields(image: Image) -> dict[str, Any]:
    """The payload fields that decide who may see an image."""
    return {"visibility": image.visibility, "hidden": int(image.is_hidden)}


def vectors_held_or_encoded(
    *,
    encoder: ClipEncoder,
    store: VectorStore,
    ids: Sequence[UUID],
    pictures: Sequence[PILImage.Image],
) -> np.ndarray:
    """`encoder`'s vectors of the points `ids` (showing `pictures`), in order.

    Those its collection holds are reused, the rest encoded now: during a
    model switch the collection search reads keeps what it has, so a reindex
    encodes each image (or video moment) once, with the new model. Reads only.
    """
    held = store.retrieve_vectors(encoder.collection_name, ids)
    missing = [n for n, point in enumerate(ids) if point not in held]
    if missing:
        fresh = encoder.encode_images([pictures[n] for n in missing])
        held.update((ids[n], vector) for n, vector in zip(missing, fresh, strict=True))
    return np.stack([held[point] for point in ids])


def decode_short_side(encoder: ClipEncoder) -> int:
    """Pixels the model needs on an image's short side (its resize target)."""
    if encoder.preprocessor is None:
        return settings.DECODE_SHORT_SIDE
    return min(encoder.preprocessor.output_size)


def load_picture(name: str, *, short_side: int | None = None, long_side: int = 0) -> PILImage.Image:
    """Decode a stored original near `short_side` pixels (and `long_side`), EXIF-oriented, RGB.

    Raises `UnreadableImage` for bytes that do not decode; `OSError` from the
    storage itself (worth retrying) passes through.
    """
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise UnreadableImage("the stored file is missing") from exc
    with handle:
        try:
            return open_reduced(
                handle, short_side=short_side or settings.DECODE_SHORT_SIDE, long_side=long_side
            )
        except Exception as exc:  # Pillow's plugins raise all kinds: the file is bad
            raise UnreadableImage(f"{type(exc).__name__}: {exc}") from exc


def images_claim_stale(*, older_than: timedelta, limit: int = 1000) -> list[str]:
    """Claim, and return the ids of, up to `limit` images pending for longer than `older_than`.

    Pending that long since their upload and since they were last queued
    (`queued_at`), their message was most likely lost. The claim stamps
    `queued_at` in the transaction that selects the rows, locked and skipping
    rows another sweep holds, so a sweep running meanwhile or within
    `older_than` afterwards selects none of them: a backlog is queued once per
    window, not once per sweep. The caller queues the returned ids.
    """
    now = timezone.now()
    cutoff = now - older_than
    with transaction.atomic():
        ids = list(
            Image.objects.select_for_update(skip_locked=True)
            .filter(status=Image.Status.PENDING, uploaded_at__lt=cutoff)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=cutoff))
            .order_by("uploaded_at")
            .values_list("pk", flat=True)[:limit]
        )
        Image.objects.filter(pk__in=ids).update(queued_at=now)
    return [str(pk) for pk in ids]
