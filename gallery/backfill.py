"""Backfill: give images indexed before text search their text side.

Recognised text (the same OCR as indexing, on a picture decoded for it), the
camera and position from the stored original's EXIF, the place, and the
lexical vector in every collection. The vectors CLIP made stay as they are.
Resumable: an image is done once `text_indexed_at` is set, and the command
picks up what is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from gallery.indexing import UnreadableImage, image_recognised_fields, load_picture
from gallery.lexical import images_refresh_lexical
from gallery.models import Image
from gallery.moderation import image_screen_words
from gallery.ocr import RecognisedText, ocr_decode_side, recognise
from gallery.photometa import PhotoMetadata, image_fields, read_photo_metadata
from vectorstore import get_store

# Named rather than imported: `workers` sits above this layer and imports it.
BACKFILL_TASK = "workers.tasks.backfill_text_task"


@dataclass(frozen=True)
class _Read:
    metadata: PhotoMetadata | None
    text: RecognisedText | None


def backfill_pending() -> Any:
    """Indexed images whose text side was never built (`text_indexed_at` unset)."""
    return Image.objects.filter(status=Image.Status.INDEXED, text_indexed_at__isnull=True)


def backfill_enqueue(image_ids: Sequence[str], *, recognise_text: bool) -> None:
    current_app.signature(BACKFILL_TASK, args=(list(image_ids), recognise_text)).apply_async()


def images_backfill_text(*, image_ids: Sequence[str], recognise_text: bool = True) -> int:
    """Build the text side of these images; returns how many were done.

    Files are read in `INDEX_DECODE_THREADS` threads (Tesseract releases the
    GIL). Each image's fields are then set on its row under the lock that
    indexing and visibility changes take, and the store follows in the same
    transaction. Without `recognise_text` the metadata and words are rebuilt
    but `text_indexed_at` stays unset, so a later run with OCR recognises
    them. An unreadable original is skipped (indexing marks those failed).
    Raises `VectorStoreUnavailable` with the batch's rows unchanged.
    """
    images = list(Image.objects.filter(pk__in=image_ids, status=Image.Status.INDEXED))
    workers = max(1, settings.INDEX_DECODE_THREADS)
    with ThreadPoolExecutor(workers) as pool:
        reads = list(pool.map(lambda image: _read(image, recognise_text), images))
    done = 0
    with transaction.atomic():
        locked = Image.objects.select_for_update().filter(pk__in=[i.pk for i in images])
        rows = {row.pk: row for row in locked.order_by("pk")}
        changed = []
        for image, read in zip(images, reads, strict=True):
            row = rows.get(image.pk)
            if row is None or read is None:
                continue
            fields = _metadata_fields(row, read.metadata) if read.metadata else {}
            if read.text is not None:
                fields.update(image_recognised_fields(row, read.text))
            if fields:
                row.save(update_fields=list(fields))
            if image_screen_words(image=row):
                get_store().set_payload([row.id], {"hidden": int(row.is_hidden)})
            changed.append(row)
            done += 1
        images_refresh_lexical(changed)
    return done


def _read(image: Image, recognise_text: bool) -> _Read | None:
    name = image.file.name or ""
    try:
        metadata = None
        if not image.camera_make and image.latitude is None:
            with default_storage.open(name, "rb") as handle, PILImage.open(handle) as probe:
                metadata = read_photo_metadata(probe)
        text = None
        if recognise_text:
            text = recognise(load_picture(name, long_side=ocr_decode_side()))
    except (UnreadableImage, OSError, ValueError, SyntaxError, EOFError):
        return None
    return _Read(metadata=metadata, text=text)


def _metadata_fields(image: Image, meta: PhotoMetadata) -> dict[str, Any]:
    """Set what the original's EXIF says on `image`; returns the fields to save."""
    fields = image_fields(meta)
    for key, value in fields.items():
        setattr(image, key, value)
    return fields
