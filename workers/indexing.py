"""Indexing: an image row becomes a vector with its metadata in the store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from clipsite.logcontext import image_log_context
from gallery.decoding import open_reduced
from gallery.models import Image
from workers.encoder import ClipEncoder, EncoderUnavailable
from workers.indexes import index_encoders
from workers.pipeline import encode_stream
from workers.tagging import auto_tags
from workers.vectorstore import VectorPoint, VectorStore, VectorStoreUnavailable, get_store

logger = logging.getLogger(__name__)


class UnreadableImage(Exception):
    """The stored file cannot be decoded; retrying will not help."""


@dataclass
class IndexOutcome:
    """What became of a batch: indexed ids, and images worth another try with the reason."""

    indexed: list[str] = field(default_factory=list)
    retry: dict[str, Exception] = field(default_factory=dict)


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
    """Encode `images` in batches, tag them, and upsert vectors and payloads.

    Files are decoded near the model's size in threads while the model encodes
    the previous batch (`workers.pipeline`). During a model change each image
    is also encoded into the collection search still reads, so it is findable
    before and after the switch. Idempotent: the point id is the image's UUID.
    An undecodable file marks its image failed at once; a store or encoder
    outage, or a storage read error, puts the images in `retry`. `request_ids`
    (image id to the id of the request that queued it) goes on its log lines.
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

    def prepare(image: Image) -> tuple[PILImage.Image, Any]:
        picture = load_picture(image.file.name or "", short_side=short_side)
        return picture, primary.prepare(picture)

    batches = encode_stream(
        images,
        prepare=prepare,
        encode=lambda prepared: primary.encode_prepared([pixels for _, pixels in prepared]),
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
                pictures = [picture for picture, _ in batch.prepared]
                store_encoded(
                    batch.items, pictures, batch.vectors, encoders, store, request_ids or {}
                )
                outcome.indexed += [str(image.id) for image in batch.items]
    except (EncoderUnavailable, VectorStoreUnavailable) as exc:
        done = set(outcome.indexed)
        outcome.retry.update({str(i.id): exc for i in images if str(i.id) not in done})
    return outcome


def store_encoded(
    images: Sequence[Image],
    pictures: Sequence[PILImage.Image],
    vectors: np.ndarray,
    encoders: Sequence[ClipEncoder],
    store: VectorStore,
    request_ids: Mapping[str, str],
) -> None:
    """Tag, screen and upsert encoded `images` (`vectors` from `encoders[0]`), then mark them.

    The other encoders (a model switch in progress) encode `pictures` themselves.
    """
    from search.moderation import image_screen

    primary = encoders[0]
    for image, vector in zip(images, vectors, strict=True):
        image.tags = auto_tags(primary, vector)
        Image.objects.filter(pk=image.pk).update(tags=image.tags)
        image_screen(image=image, encoder=primary, vector=vector)
    for position, encoder in enumerate(encoders):
        encoded = vectors if position == 0 else encoder.encode_images(list(pictures))
        store.upsert(
            encoder.collection_name,
            [
                VectorPoint(id=image.id, vector=vector, payload=image.vector_payload())
                for image, vector in zip(images, encoded, strict=True)
            ],
        )
    # The payloads above were built from the rows as read. If an owner changed
    # visibility, or deleted the image, meanwhile, the store follows the row.
    current = dict(
        Image.objects.filter(pk__in=[i.pk for i in images]).values_list("pk", "visibility")
    )
    for image in images:
        with image_log_context(image, request_ids.get(str(image.id))):
            visibility = current.get(image.pk)
            if visibility is None:
                store.delete([image.id])
                continue
            if visibility != image.visibility:
                store.set_payload([image.id], {"visibility": visibility})
            image.mark_indexed(model_id=primary.model_id)
            logger.info(
                "Indexed image with %s (tags: %s)",
                primary.model_id,
                ", ".join(image.tags) or "none",
            )


def decode_short_side(encoder: ClipEncoder) -> int:
    """Pixels the model needs on an image's short side (its resize target)."""
    if encoder.preprocessor is None:
        return settings.DECODE_SHORT_SIDE
    return min(encoder.preprocessor.output_size)


def load_picture(name: str, *, short_side: int | None = None) -> PILImage.Image:
    """Decode a stored original near `short_side` pixels, EXIF-oriented, RGB.

    Raises `UnreadableImage` for bytes that do not decode; `OSError` from the
    storage itself (worth retrying) passes through.
    """
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise UnreadableImage("the stored file is missing") from exc
    with handle:
        try:
            return open_reduced(handle, short_side=short_side or settings.DECODE_SHORT_SIDE)
        except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
            raise UnreadableImage(str(exc)) from exc


def stale_pending_images(*, older_than: timedelta) -> list[str]:
    """Ids of images pending for longer than `older_than`: their task was lost."""
    cutoff = timezone.now() - older_than
    return [
        str(pk)
        for pk in Image.objects.filter(
            status=Image.Status.PENDING, uploaded_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    ]
