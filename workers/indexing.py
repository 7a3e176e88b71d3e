"""Indexing: an image row becomes a vector with its metadata in the store."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageOps

from gallery.models import Image
from workers.indexes import index_encoders
from workers.tagging import auto_tags
from workers.vectorstore import VectorPoint, get_store

logger = logging.getLogger(__name__)


class UnreadableImage(Exception):
    """The stored file cannot be decoded; retrying will not help."""


def image_index(*, image: Image) -> None:
    """Encode `image`, tag it, and upsert its vector and payload into the model's collection.

    During a model change the image is also encoded into the collection search
    still reads, so it is findable before and after the switch. Idempotent:
    the point id is the image's UUID. Raises `EncoderUnavailable` or
    `VectorStoreUnavailable` (worth retrying); an undecodable file marks the
    image failed at once.
    """
    from search.moderation import image_screen

    encoders = index_encoders()
    try:
        picture = load_picture(image.file.name or "")
    except UnreadableImage as exc:
        image.mark_failed(error=f"The stored file cannot be read: {exc}")
        return
    store = get_store()
    encoder = encoders[0]
    for position, each in enumerate(encoders):
        vector = each.encode_images([picture])[0]
        if position == 0:
            image.tags = auto_tags(each, vector)
            Image.objects.filter(pk=image.pk).update(tags=image.tags)
            image_screen(image=image, encoder=each, vector=vector)
        store.upsert(
            each.collection_name,
            [VectorPoint(id=image.id, vector=vector, payload=image.vector_payload())],
        )
    # The payload above was built from the row as the task read it. If the
    # owner changed visibility meanwhile, write the current value again.
    current = Image.objects.filter(pk=image.pk).values_list("visibility", flat=True).first()
    if current is None:
        store.delete([image.id])  # Deleted while we encoded it.
        return
    if current != image.visibility:
        store.set_payload([image.id], {"visibility": current})
    image.mark_indexed(model_id=encoder.model_id)
    logger.info(
        "Indexed image with %s (tags: %s)", encoder.model_id, ", ".join(image.tags) or "none"
    )


def load_picture(name: str) -> PILImage.Image:
    """Decode a stored original, apply its EXIF orientation, return RGB."""
    try:
        with default_storage.open(name, "rb") as handle:
            picture = PILImage.open(handle)
            picture.load()
            return ImageOps.exif_transpose(picture).convert("RGB")
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
