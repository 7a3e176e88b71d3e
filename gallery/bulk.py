"""Bulk import of a folder through the indexing pipeline.

Each file is read and hashed once in the main thread (a file whose bytes the
owner already has is skipped before anything is decoded, which is how an
interrupted import resumes), then validated, decoded at the scale the model
and the thumbnail need, thumbnailed and resized in the decode threads, while
the model encodes the previous batch; the text in a picture is recognised there
too, as on the workers.  Rows are written batch by batch, so an
interruption loses at most the batch in flight; rows left pending by one are
indexed first on the next run.

When a broker is configured and `in_process` is False, rows are queued for the
workers instead of encoded here (the GPU is theirs); files are still decoded
once, for validation and the thumbnail.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from core.errors import ApplicationError
from encoder import ClipEncoder
from encoder.pipeline import encode_stream
from gallery.decoding import open_reduced
from gallery.importing import ImportSummary
from gallery.indexes import index_encoders
from gallery.indexing import images_index, images_store_encoded
from gallery.models import Image
from gallery.ocr import RecognisedText, ocr_decode_side, ocr_enabled, recognise
from gallery.services import DuplicateImage, image_record
from gallery.validation import InspectedImage, inspect_image, make_thumbnail
from vectorstore import get_store


@dataclass
class Candidate:
    path: Path
    data: bytes
    sha256: str


@dataclass
class Prepared:
    inspected: InspectedImage
    thumbnail: bytes
    pixels: Any  # what `ClipEncoder.prepare` returned; None when queuing for the workers
    text: RecognisedText | None  # None: not recognised here (the workers, or the backfill, will)


class ImportInterrupted(ApplicationError):
    """A service failed mid-import; what was written stays, and a rerun resumes."""


def folder_import(
    *,
    owner: AbstractBaseUser,
    files: Iterable[Path],
    visibility: str = Image.Visibility.PRIVATE,
    in_process: bool = True,
    progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import `files` for `owner`; bad files are counted in the summary, never fatal.

    Raises `ImportInterrupted` when storage, the encoder or the vector store
    fails; everything finished before stays finished.
    """
    summary = ImportSummary()
    report = progress or (lambda _summary: None)
    encoders = index_encoders() if in_process else []
    if in_process:
        _resume_pending(owner, summary)
    in_flight: set[str] = set()

    def candidates() -> Iterator[Candidate]:
        for path in files:
            try:
                data = _read(path)
            except ApplicationError as exc:
                _fail(summary, path, exc.code, exc.message)
                report(summary)
                continue
            except OSError as exc:
                _fail(summary, path, "unreadable_file", str(exc))
                report(summary)
                continue
            digest = hashlib.sha256(data).hexdigest()
            known = Image.objects.filter(owner_id=owner.pk, sha256=digest).exists()
            if known or digest in in_flight:
                summary.skipped += 1
                summary.reasons["duplicate_image"] += 1
                report(summary)
                continue
            in_flight.add(digest)
            yield Candidate(path, data, digest)

    primary = encoders[0] if encoders else None
    reading = in_process and ocr_enabled()
    batches = encode_stream(
        candidates(),
        prepare=lambda candidate: _prepare(candidate, primary, reading=reading),
        encode=lambda prepared: _encode(primary, prepared),
        batch_size=primary.batch_size if primary else 32,
        workers=settings.INDEX_DECODE_THREADS,
        failures=(ApplicationError,),
    )
    for batch in batches:
        for candidate, error in batch.failures:
            in_flight.discard(candidate.sha256)
            code = getattr(error, "code", "invalid_image")
            _fail(summary, candidate.path, code, getattr(error, "message", str(error)))
        images, pictures, texts, keep = [], [], [], []
        for position, (candidate, prepared) in enumerate(
            zip(batch.items, batch.prepared, strict=True)
        ):
            in_flight.discard(candidate.sha256)
            try:
                image = image_record(
                    owner=owner,
                    inspected=prepared.inspected,
                    thumbnail=prepared.thumbnail,
                    visibility=visibility,
                    filename=candidate.path.name,
                    enqueue=not in_process,
                )
            except DuplicateImage:
                summary.skipped += 1
                summary.reasons["duplicate_image"] += 1
                continue
            except ApplicationError as exc:
                raise ImportInterrupted(exc.code, exc.message) from exc
            summary.imported += 1
            images.append(image)
            pictures.append(prepared.inspected.image)
            texts.append(prepared.text)
            keep.append(position)
        if in_process and images:
            try:
                images_store_encoded(
                    images=images,
                    pictures=pictures,
                    vectors=batch.vectors[keep],
                    encoders=encoders,
                    store=get_store(),
                    texts=texts,
                )
            except ApplicationError as exc:
                raise ImportInterrupted(
                    exc.code, f"{exc.message} Run the import again to resume."
                ) from exc
            summary.indexed += len(images)
        report(summary)
    return summary


def _resume_pending(owner: AbstractBaseUser, summary: ImportSummary) -> None:
    """Index the owner's rows an interrupted run (or a lost task) left pending."""
    pending = list(Image.objects.filter(owner_id=owner.pk, status=Image.Status.PENDING))
    if not pending:
        return
    outcome = images_index(images=pending)
    if outcome.retry:
        error = next(iter(outcome.retry.values()))
        raise ImportInterrupted("index_unavailable", f"Indexing is unavailable: {error}")
    summary.resumed += len(outcome.indexed)


def _read(path: Path) -> bytes:
    limit = settings.UPLOAD_MAX_BYTES
    if path.stat().st_size > limit:
        raise ApplicationError(
            "file_too_large", f"The file is larger than the limit of {limit // (1024 * 1024)} MB."
        )
    return path.read_bytes()


def _prepare(candidate: Candidate, encoder: ClipEncoder | None, *, reading: bool) -> Prepared:
    """Validate, decode once, thumbnail, resize and read the text: runs in a decode thread."""
    inspected = inspect_image(candidate.data)
    thumbnail = make_thumbnail(inspected.image, settings.THUMBNAIL_SIZE)
    pixels = encoder.prepare(inspected.image) if encoder is not None else None
    return Prepared(inspected, thumbnail, pixels, _recognised(candidate, inspected, reading))


def _recognised(
    candidate: Candidate, inspected: InspectedImage, reading: bool
) -> RecognisedText | None:
    if not reading:
        return None
    picture = inspected.image
    wanted = min(ocr_decode_side(), max(inspected.width, inspected.height))
    if max(picture.size) < wanted:
        # A JPEG was decoded at the model's scale, too small to read: decode
        # it again at the size text recognition needs, as the workers do.
        picture = open_reduced(io.BytesIO(candidate.data), short_side=1, long_side=wanted)
    return recognise(picture)


def _encode(encoder: ClipEncoder | None, prepared: list[Prepared]) -> np.ndarray:
    if encoder is None:
        return np.zeros((len(prepared), 0), dtype=np.float32)
    return encoder.encode_prepared([p.pixels for p in prepared])


def _fail(summary: ImportSummary, path: Path, code: str, message: str) -> None:
    summary.fail(str(path), code, message)
