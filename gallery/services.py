"""Everything that writes images: create, import, change visibility, reindex, delete."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from core.logcontext import task_headers
from gallery.files import clean_filename, delete_stored_files, store_file
from gallery.indexing import image_enqueue
from gallery.lexical import images_refresh_lexical
from gallery.models import DESCRIPTION_MAX_LENGTH, Image, Preferences
from gallery.moderation import image_screen_words
from gallery.photometa import image_fields
from gallery.validation import InspectedImage, inspect_image, make_thumbnail, read_upload
from vectorstore import get_store


class DuplicateImage(ApplicationError):
    status = 409

    def __init__(self, existing: Image) -> None:
        super().__init__(
            "duplicate_image",
            "You have already uploaded this exact image.",
            detail={"id": str(existing.id)},
        )
        self.existing = existing


def image_create(
    *,
    owner: AbstractBaseUser,
    upload: File,
    visibility: str = Image.Visibility.PRIVATE,
    filename: str | None = None,
) -> Image:
    """Validate, store and record an upload, then queue it for indexing after commit.

    Touches the default storage (original + thumbnail) and the database. Raises
    `InvalidImage` (400) for bad bytes and `DuplicateImage` (409) when the owner
    already has these exact bytes. On any failure nothing is left behind: no
    row, no file, no queued task.
    """
    data = read_upload(upload)
    inspected = inspect_image(data)
    return image_record(
        owner=owner,
        inspected=inspected,
        thumbnail=make_thumbnail(inspected.image, settings.THUMBNAIL_SIZE),
        visibility=visibility,
        filename=filename or getattr(upload, "name", "") or "",
    )


def image_record(
    *,
    owner: AbstractBaseUser,
    inspected: InspectedImage,
    thumbnail: bytes,
    visibility: str = Image.Visibility.PRIVATE,
    filename: str = "",
    enqueue: bool = True,
) -> Image:
    """Store a validated image and its thumbnail and write its row, all or nothing.

    With `enqueue` the row is queued for indexing after commit; a bulk import
    that encodes in-process passes False and indexes the row itself.
    """
    existing = Image.objects.filter(owner_id=owner.pk, sha256=inspected.sha256).first()
    if existing is not None:
        raise DuplicateImage(existing)

    image_id = uuid.uuid4()
    prefix = f"{image_id.hex[:2]}/{image_id.hex}"
    stored: list[str] = []
    try:
        original_name = store_file(f"images/{prefix}.{inspected.extension}", inspected.data)
        stored.append(original_name)
        thumb_name = store_file(f"thumbnails/{prefix}.webp", thumbnail)
        stored.append(thumb_name)
        with transaction.atomic():
            image = Image.objects.create(
                id=image_id,
                owner_id=owner.pk,
                file=original_name,
                thumbnail=thumb_name,
                sha256=inspected.sha256,
                original_filename=clean_filename(filename),
                format=inspected.format,
                width=inspected.width,
                height=inspected.height,
                mode=inspected.mode,
                size=len(inspected.data),
                taken_at=inspected.taken_at,
                visibility=visibility,
                location_shared=Preferences.of(owner).share_location,
                **image_fields(inspected.metadata),
            )
            if enqueue:
                _enqueue_index(image)
    except IntegrityError:
        delete_stored_files(stored)
        # Two uploads of the same bytes raced; the unique constraint chose one.
        raise DuplicateImage(
            Image.objects.get(owner_id=owner.pk, sha256=inspected.sha256)
        ) from None
    except BaseException:
        delete_stored_files(stored)
        raise
    return image


def image_set_visibility(*, image: Image, visibility: str) -> Image:
    """Change who may see `image`, in the database and in the vector payload.

    The row is locked while both change, as indexing locks it while it makes
    the store follow the row (`gallery.indexing`), so neither can miss the other.
    """
    if visibility not in Image.Visibility.values:
        raise ApplicationError("invalid_visibility", f"Unknown visibility {visibility!r}.")
    if image.visibility == visibility:
        return image
    with transaction.atomic():
        row = Image.objects.select_for_update().get(pk=image.pk)
        image.visibility = row.visibility = visibility
        row.save(update_fields=["visibility"])
        if row.status == Image.Status.INDEXED:
            # Inside the transaction: if the store cannot be updated, the
            # database keeps the old visibility too, so search never disagrees.
            get_store().set_payload([image.id], {"visibility": visibility})
            # Whether others may find it by its place's name goes with visibility.
            images_refresh_lexical([row])
    return image


def image_update(
    *, image: Image, description: str | None = None, location_shared: bool | None = None
) -> Image:
    """Change `image`'s caption and whether others may see where it was taken.

    The row is locked as `image_set_visibility` locks it, and the store's
    text side follows in the same transaction. A caption with blocklisted
    words flags the image for review, as recognised text does.
    """
    changes: dict[str, object] = {}
    if description is not None:
        if len(description) > DESCRIPTION_MAX_LENGTH:
            raise ApplicationError(
                "invalid_description",
                f"A description is at most {DESCRIPTION_MAX_LENGTH} characters.",
            )
        changes["description"] = description.strip()
    if location_shared is not None:
        changes["location_shared"] = bool(location_shared)
    if not changes:
        return image
    with transaction.atomic():
        row = Image.objects.select_for_update().get(pk=image.pk)
        for key, value in changes.items():
            setattr(row, key, value)
            setattr(image, key, value)
        row.save(update_fields=list(changes))
        if "description" in changes and image_screen_words(image=row):
            get_store().set_payload([row.id], {"hidden": int(row.is_hidden)})
            image.moderation, image.moderation_reason = row.moderation, row.moderation_reason
        images_refresh_lexical([row])
    return image


def preferences_set(*, user: AbstractBaseUser, share_location: bool) -> Preferences:
    """Set `user`'s default for new uploads: whether others see where a photo was taken."""
    preferences, _ = Preferences.objects.update_or_create(
        user_id=user.pk, defaults={"share_location": bool(share_location)}
    )
    return preferences


def image_reindex(*, image: Image) -> Image:
    """Queue `image` for indexing again (after a failure, or a model change). Idempotent."""
    with transaction.atomic():
        image.mark_pending()
        _enqueue_index(image)
    return image


def image_delete(*, image: Image) -> None:
    """Remove the vector, the row, the original and the thumbnail.

    The vector goes first, with the row locked (as indexing locks it): if the
    store is down this raises and nothing else changes, so an image is never
    left searchable without a row.
    """
    names = [name for name in (image.file.name, image.thumbnail.name) if name]
    with transaction.atomic():
        Image.objects.select_for_update().filter(pk=image.pk).first()
        get_store().delete([image.id])
        image.delete()
        transaction.on_commit(lambda: delete_stored_files(names))


def _enqueue_index(image: Image) -> None:
    image_id = str(image.id)
    # robust: a broker outage must not undo a committed upload; the periodic
    # sweep (`requeue_stale_task`) queues it again.
    headers = task_headers()
    transaction.on_commit(lambda: image_enqueue(image_id=image_id, headers=headers), robust=True)
