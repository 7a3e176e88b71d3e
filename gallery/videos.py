"""Everything that writes videos: create, change visibility, review, reindex, delete.

A video is probed and its first frames decoded before anything is stored
(`gallery.videoprobe`), then streamed to storage from the upload's temporary
file: a large upload is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from core.logcontext import task_headers
from gallery.files import clean_filename, delete_stored_files, store_file
from gallery.models import Image, Video
from gallery.moderation import review_record, review_state
from gallery.validation import make_thumbnail
from gallery.videoindexing import video_enqueue, video_point_ids
from gallery.videoprobe import InvalidVideo, VideoInfo, video_poster, video_probe
from vectorstore import get_store

# The poster is what the player shows before it plays: larger than a thumbnail.
POSTER_SIZE = 960
_CHUNK = 1024 * 1024


class DuplicateVideo(ApplicationError):
    status = 409

    def __init__(self, existing: Video) -> None:
        super().__init__(
            "duplicate_video",
            "You have already uploaded this exact video.",
            detail={"id": str(existing.id)},
        )
        self.existing = existing


def video_create(
    *,
    owner: AbstractBaseUser,
    upload: File,
    visibility: str = Image.Visibility.PRIVATE,
    filename: str | None = None,
) -> Video:
    """Probe, store and record an uploaded video, all or nothing.

    Raises `InvalidVideo` (400, with a code per limit or defect) before
    anything is stored, and `DuplicateVideo` (409) when the owner already has
    these exact bytes. On any failure no row and no file is left.
    """
    declared = getattr(upload, "size", None)
    if declared is not None and declared > settings.VIDEO_MAX_BYTES:
        raise _too_large()
    with _local_copy(upload) as path:
        info = video_probe(path, size=path.stat().st_size)
        digest = _sha256(path)
        existing = Video.objects.filter(owner_id=owner.pk, sha256=digest).first()
        if existing is not None:
            raise DuplicateVideo(existing)
        poster = make_thumbnail(video_poster(path, info), POSTER_SIZE)
        return _record(
            owner=owner,
            path=path,
            info=info,
            digest=digest,
            poster=poster,
            visibility=visibility,
            filename=filename or getattr(upload, "name", "") or "",
        )


def _record(
    *,
    owner: AbstractBaseUser,
    path: Path,
    info: VideoInfo,
    digest: str,
    poster: bytes,
    visibility: str,
    filename: str,
) -> Video:
    if visibility not in Image.Visibility.values:
        raise ApplicationError("invalid_visibility", f"Unknown visibility {visibility!r}.")
    video_id = uuid.uuid4()
    prefix = f"{video_id.hex[:2]}/{video_id.hex}"
    stored: list[str] = []
    try:
        with path.open("rb") as handle:
            stored.append(store_file(f"videos/{prefix}.{info.extension}", handle))
        stored.append(store_file(f"posters/{prefix}.webp", poster))
        with transaction.atomic():
            video = Video.objects.create(
                id=video_id,
                owner_id=owner.pk,
                file=stored[0],
                poster=stored[1],
                sha256=digest,
                original_filename=clean_filename(filename),
                format=info.format,
                codec=info.codec,
                width=info.width,
                height=info.height,
                rotation=info.rotation,
                duration=info.duration,
                frame_rate=info.frame_rate,
                size=path.stat().st_size,
                taken_at=info.taken_at,
                visibility=visibility,
            )
            _enqueue_index(video)
            return video
    except IntegrityError:
        delete_stored_files(stored)
        # Two uploads of the same bytes raced; the unique constraint chose one.
        raise DuplicateVideo(Video.objects.get(owner_id=owner.pk, sha256=digest)) from None
    except BaseException:
        delete_stored_files(stored)
        raise


def video_set_visibility(*, video: Video, visibility: str) -> Video:
    """Change who may see `video` (the row is locked, as image visibility locks its row)."""
    if visibility not in Image.Visibility.values:
        raise ApplicationError("invalid_visibility", f"Unknown visibility {visibility!r}.")
    if video.visibility == visibility:
        return video
    with transaction.atomic():
        row = Video.objects.select_for_update().get(pk=video.pk)
        video.visibility = row.visibility = visibility
        row.save(update_fields=["visibility"])
        # Inside the transaction, as for images: if the store cannot follow,
        # the row keeps its old visibility too.
        points = video_point_ids(row)
        if points:
            get_store().set_payload(points, {"visibility": visibility})
    return video


def video_review(
    *, video: Video, decision: str, reviewer: AbstractBaseUser, reason: str = ""
) -> Video:
    """A staff decision on `video`, as `image_review` on an image: approve or reject. Recorded.

    Approved, the video is visible again to those its visibility allows;
    rejected, it stays hidden for good. The row and its `ModerationDecision`
    change together (`gallery.moderation.review_record`), and every moment's
    point follows (`hidden`), inside the transaction and with the row locked as
    indexing locks it: a decision made mid-index reaches the moments written
    after it, and if the store cannot follow, the row keeps its old decision
    and nothing is recorded. Deciding again records again. Raises
    `ApplicationError` as `review_state` does, before anything changes.
    """
    state = review_state(decision=decision, reviewer=reviewer)
    with transaction.atomic():
        row = Video.objects.select_for_update().get(pk=video.pk)
        review_record(row=row, state=state, reviewer=reviewer, reason=reason)
        points = video_point_ids(row)
        if points:
            get_store().set_payload(points, {"hidden": int(row.is_hidden)})
    video.moderation, video.moderation_reason = row.moderation, row.moderation_reason
    return video


def video_reindex(*, video: Video) -> Video:
    """Index `video` again from its start (after a failure, or a model change)."""
    with transaction.atomic():
        row = Video.objects.select_for_update().get(pk=video.pk)
        row.status, row.error, row.progress, row.indexed_until = Video.Status.PENDING, "", 0.0, 0.0
        row.save(update_fields=["status", "error", "progress", "indexed_until"])
        _enqueue_index(row)
    return row


def video_delete(*, video: Video) -> None:
    """Remove every moment's point, then the rows, then (after commit) every stored file.

    The points go first, with the row locked (as indexing locks it): if the
    store is down this raises and nothing else changes.
    """
    with transaction.atomic():
        Video.objects.select_for_update().filter(pk=video.pk).first()
        moments = list(video.moments.values_list("point_id", "thumbnail"))
        if moments:
            get_store().delete([point for point, _ in moments])
        names = [n for n in (video.file.name, video.poster.name) if n]
        names += [thumbnail for _, thumbnail in moments if thumbnail]
        video.delete()
        transaction.on_commit(lambda: delete_stored_files(names))


@contextmanager
def _local_copy(upload: File) -> Iterator[Path]:
    """A path to the upload's bytes: Django's temporary file, or a copy of a small in-memory one.

    Django keeps only uploads under FILE_UPLOAD_MAX_MEMORY_SIZE in memory;
    larger ones it has already streamed to a temporary file.
    """
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        yield Path(temporary())
        return
    suffix = Path(getattr(upload, "name", "") or "").suffix[:8]
    handle, name = tempfile.mkstemp(suffix=suffix, prefix="clipsearch-video-")
    try:
        with os.fdopen(handle, "wb") as out:
            upload.seek(0)
            shutil.copyfileobj(upload, out, _CHUNK)
        yield Path(name)
    finally:
        os.unlink(name)


def _enqueue_index(video: Video) -> None:
    video_id = str(video.id)
    # robust: a broker outage must not undo a committed upload (reindex queues it again).
    headers = task_headers()
    transaction.on_commit(lambda: video_enqueue(video_id=video_id, headers=headers), robust=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _too_large() -> InvalidVideo:
    limit = settings.VIDEO_MAX_BYTES
    return InvalidVideo(
        "video_too_large", f"The video is larger than the limit of {limit // (1024 * 1024)} MB."
    )
