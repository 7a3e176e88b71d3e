"""Images and the rules that belong to one image row; which vector collection search reads."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.metrics import IMAGES_INDEXED, INDEX_FAILURES
from gallery.photometa import camera_name

logger = logging.getLogger(__name__)

DESCRIPTION_MAX_LENGTH = 2000

_M = TypeVar("_M", bound=models.Model)


class SharedQuerySet(models.QuerySet[_M]):
    """Who may see what, for images and videos alike."""

    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        """Rows `user` may see: their own, and everyone's public ones that moderation allows."""
        if not user.is_authenticated:
            return self.none()
        shared = Q(visibility=Image.Visibility.PUBLIC) & ~Q(moderation__in=Image.HIDDEN_STATES)
        return self.filter(Q(owner_id=user.pk) | shared)

    def awaiting_review(self) -> Self:
        return self.filter(moderation=Image.Moderation.FLAGGED)

    def owned_by(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner_id=user.pk)


class ImageQuerySet(SharedQuerySet["Image"]):
    pass


class Image(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private"
        PUBLIC = "public", "Public"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        INDEXED = "indexed", "Indexed"
        FAILED = "failed", "Failed"

    class Moderation(models.TextChoices):
        NONE = "", "Not flagged"
        FLAGGED = "flagged", "Flagged, awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    # Hidden from everyone but the owner (and staff), whatever the visibility.
    HIDDEN_STATES = (Moderation.FLAGGED, Moderation.REJECTED)

    # The public id doubles as the vector store's point id, so re-indexing an
    # image overwrites its vector instead of adding a second one.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    original_filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    mode = models.CharField(max_length=16)
    size = models.PositiveBigIntegerField(help_text="Size of the stored file in bytes.")
    taken_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now, db_index=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.TextField(blank=True)
    model_id = models.CharField(max_length=255, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)
    # When the image was last queued for indexing after its upload (a reindex,
    # or the requeue sweep's claim): the sweep counts a pending image's wait
    # from here, so it never queues what is already waiting in the broker.
    queued_at = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    moderation = models.CharField(
        max_length=16,
        choices=Moderation.choices,
        default=Moderation.NONE,
        blank=True,
        db_index=True,
    )
    moderation_reason = models.CharField(max_length=255, blank=True)
    # What is known about the picture beyond its pixels: searchable words.
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    # Words recognised in the picture (OCR) in reading order, and each word
    # with its box as fractions of the picture ({"t", "b": [x, y, w, h], "c"}),
    # so that pages can highlight them.
    recognised_text = models.TextField(blank=True)
    text_words = models.JSONField(default=list, blank=True)
    # When the text side (recognition, the lexical vector) was built, and by
    # which engine; None: indexed before it existed (`manage.py backfill_text`).
    text_indexed_at = models.DateTimeField(null=True, blank=True)
    text_engine = models.CharField(max_length=64, blank=True)
    camera_make = models.CharField(max_length=128, blank=True)
    camera_model = models.CharField(max_length=128, blank=True)
    lens = models.CharField(max_length=128, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    place_city = models.CharField(max_length=128, blank=True)
    place_region = models.CharField(max_length=128, blank=True)
    place_country = models.CharField(max_length=128, blank=True)
    place_country_code = models.CharField(max_length=2, blank=True)
    # Whether others who may see the image may see where it was taken; set
    # from its owner's default (`Preferences.share_location`) at upload.
    location_shared = models.BooleanField(default=False)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "sha256"], name="unique_image_per_owner"),
        ]
        indexes = [models.Index(fields=["owner", "-uploaded_at"])]

    def __str__(self) -> str:
        return self.original_filename or str(self.id)

    @property
    def timestamp(self) -> datetime:
        """When the picture was taken if known, else when it was uploaded."""
        return self.taken_at or self.uploaded_at

    @property
    def camera(self) -> str:
        return camera_name(self.camera_make, self.camera_model)

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def place_names(self) -> list[str]:
        """City, region and country, the known ones, each once."""
        names = (self.place_city, self.place_region, self.place_country)
        return list(dict.fromkeys(n for n in names if n))

    @property
    def place(self) -> str:
        return ", ".join(self.place_names)

    def location_visible_to(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether `user` may see where the picture was taken: its owner, or anyone if shared."""
        return self.location_shared or (user.is_authenticated and user.pk == self.owner_id)

    @property
    def location_searchable_by_others(self) -> bool:
        """Whether place terms may answer other users' searches: only where they see the place.

        A private image is only ever searched by its owner, so its place is
        always searchable; a public one's only when its owner shares it.
        """
        return self.location_shared or self.visibility == Image.Visibility.PRIVATE

    def vector_payload(self) -> dict[str, Any]:
        """The metadata stored beside the vector: what search filters on.

        The place fields and `text` (the lexical document, `gallery.lexical`)
        come from `lexical_payload`, which a caption or sharing change rewrites alone.
        """
        payload: dict[str, Any] = {
            # Its own group: a grouped search returns it as one result (`GROUP_FIELD`).
            "group": str(self.pk),
            "owner": str(self.owner_id),
            "visibility": self.visibility,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "uploaded_at": _rfc3339(self.uploaded_at),
            "timestamp": _rfc3339(self.timestamp),
            "tags": list(self.tags),
            # An integer, not a boolean: the embedded engine never matches booleans.
            "hidden": int(self.is_hidden),
        }
        if self.taken_at:
            payload["taken_at"] = _rfc3339(self.taken_at)
        if self.has_location:
            payload["location"] = {"lat": self.latitude, "lon": self.longitude}
        return {**payload, **self.lexical_payload()}

    def lexical_document(self) -> str:
        """The words search finds the image by, beside what CLIP sees in it.

        Caption, recognised text, file name, tags, camera and lens, and the
        place where others may search by it (`location_searchable_by_others`).
        """
        stem = self.original_filename.rsplit(".", 1)[0]
        parts = [
            self.description,
            self.recognised_text,
            " ".join(stem.replace("_", " ").replace("-", " ").split()),
            " ".join(self.tags),
            self.camera,
            self.lens,
        ]
        if self.location_searchable_by_others:
            parts += self.place_names
        return "\n".join(part for part in parts if part)

    def lexical_payload(self) -> dict[str, Any]:
        """The payload keys that change with the text side (see `vector_payload`)."""
        camera = [self.camera, self.camera_make, self.camera_model]
        country = [self.place_country_code, self.place_country]
        return {
            "text": self.lexical_document(),
            "has_text": int(bool(self.recognised_text.strip())),
            "camera": _folded(camera),
            "place": _folded(self.place_names),
            "country": _folded(country),
            "place_shown": int(self.location_shared),
        }

    @property
    def is_hidden(self) -> bool:
        """Hidden from other users by moderation, whatever its visibility."""
        return self.moderation in Image.HIDDEN_STATES

    def mark_indexed(self, *, model_id: str) -> None:
        self.status = Image.Status.INDEXED
        self.model_id = model_id
        self.error = ""
        self.indexed_at = timezone.now()
        self.save(update_fields=["status", "model_id", "error", "indexed_at"])
        IMAGES_INDEXED.inc()

    def mark_failed(self, *, error: str) -> None:
        """Failed to index, with why: shown to the owner, logged, counted; reindex retries."""
        self.status = Image.Status.FAILED
        self.error = error[:2000]
        self.save(update_fields=["status", "error"])
        logger.warning("Indexing image %s failed: %s", self.pk, self.error)
        INDEX_FAILURES.inc()

    def mark_pending(self) -> None:
        """Pending again, as its caller queues it (see `queued_at`)."""
        self.status = Image.Status.PENDING
        self.error = ""
        self.queued_at = timezone.now()
        self.save(update_fields=["status", "error", "queued_at"])


def _folded(values: list[str]) -> list[str]:
    """Keyword values as filters compare them: case-folded, blanks and repeats dropped."""
    return list(dict.fromkeys(v.strip().casefold() for v in values if v.strip()))


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class VideoQuerySet(SharedQuerySet["Video"]):
    pass


class Video(models.Model):
    """An uploaded video. Search finds its moments (scenes), each a point in the store.

    Visibility and moderation mean what they mean for an `Image`, and share its choices.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        INDEXING = "indexing", "Indexing"
        INDEXED = "indexed", "Indexed"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="videos"
    )
    file = models.FileField(max_length=255)
    poster = models.FileField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    original_filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16)
    codec = models.CharField(max_length=16)
    # Upright, as the video plays (phone videos store their frames turned).
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    rotation = models.PositiveSmallIntegerField(default=0)
    duration = models.FloatField(help_text="Seconds.")
    frame_rate = models.FloatField()
    size = models.PositiveBigIntegerField(help_text="Size of the stored file in bytes.")
    taken_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now, db_index=True)
    visibility = models.CharField(
        max_length=16, choices=Image.Visibility.choices, default=Image.Visibility.PRIVATE
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0, help_text="Share of the video indexed, 0..1.")
    moments_indexed = models.PositiveIntegerField(default=0)
    # Where indexing has reached (the last stored moment's end): an
    # interrupted video resumes here.
    indexed_until = models.FloatField(default=0.0)
    model_id = models.CharField(max_length=255, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)
    moderation = models.CharField(
        max_length=16,
        choices=Image.Moderation.choices,
        default=Image.Moderation.NONE,
        blank=True,
        db_index=True,
    )
    moderation_reason = models.CharField(max_length=255, blank=True)

    objects = VideoQuerySet.as_manager()

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "sha256"], name="unique_video_per_owner"),
        ]
        indexes = [models.Index(fields=["owner", "-uploaded_at"])]

    def __str__(self) -> str:
        return self.original_filename or str(self.id)

    @property
    def is_hidden(self) -> bool:
        """Hidden from other users by moderation, whatever its visibility."""
        return self.moderation in Image.HIDDEN_STATES

    def moment_at(self, seconds: float) -> VideoMoment | None:
        """The moment on screen at `seconds`: the last to start by then (else the first)."""
        moments = self.moments.order_by("-start")
        return moments.filter(start__lte=seconds).first() or moments.last()

    def moment_payload(self, start: float, end: float) -> dict[str, Any]:
        """What a moment's point carries: where it is in which video, and who may see it."""
        return {
            "kind": POINT_KIND_VIDEO,
            "video": str(self.pk),
            # A grouped search returns a video once, with its best moments.
            "group": str(self.pk),
            "start": start,
            "end": end,
            "duration": self.duration,
            "owner": str(self.owner_id),
            "visibility": self.visibility,
            "hidden": int(self.is_hidden),
            "uploaded_at": _rfc3339(self.uploaded_at),
            "timestamp": _rfc3339(self.taken_at or self.uploaded_at),
        }


# The `kind` of a video moment's point; an image's point has no `kind`.
POINT_KIND_VIDEO = "video"


class VideoMoment(models.Model):
    """A stretch of a video that search can land on: one point in the store, and its thumbnail."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="moments")
    start = models.FloatField()
    end = models.FloatField()
    # uuid5 of (video, start): writing a moment again overwrites its point.
    point_id = models.UUIDField(unique=True)
    thumbnail = models.FileField(max_length=255, blank=True)
    # The moderation concepts it crossed, as "concept (cosine)"; empty if none.
    flagged = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["video", "start"]
        constraints = [
            models.UniqueConstraint(fields=["video", "start"], name="one_moment_per_start"),
        ]

    def __str__(self) -> str:
        return f"{self.video_id} at {self.start:.1f} s"

    @staticmethod
    def point_for(video_id: uuid.UUID, start: float) -> uuid.UUID:
        return uuid.uuid5(_MOMENT_NAMESPACE, f"{video_id}:{start:.3f}")


_MOMENT_NAMESPACE = uuid.UUID("6f1c2a52-7e0b-4d1e-9a53-2f0c8d1b7a41")


class Preferences(models.Model):
    """A user's gallery defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="gallery_preferences",
    )
    # Off: a public photo does not tell others where it was taken unless its
    # owner says so, per image or here for every new upload.
    share_location = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

    @classmethod
    def of(cls, user: AbstractBaseUser) -> Preferences:
        """`user`'s preferences (the defaults until they change one)."""
        return cls.objects.filter(user_id=user.pk).first() or cls(user_id=user.pk)


class TagLabel(models.Model):
    """An auto-tag label managed in the admin, used beside `settings.AUTO_TAG_LABELS`."""

    name = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModerationDecision(models.Model):
    """Who decided what about an image or a video, when and why: the system's flag and staff
    reviews. Each decision is about exactly one of the two (a check constraint holds it)."""

    class Decision(models.TextChoices):
        FLAGGED = "flagged", "Flagged"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.CASCADE, related_name="decisions"
    )
    video = models.ForeignKey(
        Video, null=True, blank=True, on_delete=models.CASCADE, related_name="decisions"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Empty when the system flagged the image.",
    )
    reason = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(image__isnull=False, video__isnull=True)
                | Q(image__isnull=True, video__isnull=False),
                name="moderationdecision_image_or_video",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.image_id or self.video_id}"


class VectorIndex(models.Model):
    """One model's collection. Search reads the single ACTIVE one.

    A new `CLIP_MODEL` gets a BUILDING index that `manage.py reindex` fills;
    search keeps using the old ACTIVE index until the new one is complete,
    then the two swap in one transaction (what a Qdrant alias swap does, but
    for both the server and the embedded engine).
    """

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    model_name = models.CharField(max_length=500, help_text="CLIP_MODEL: hub id or directory.")
    model_id = models.CharField(max_length=255)
    collection = models.CharField(max_length=255, unique=True)
    dim = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had when this model lived in `workers`.
        db_table = "workers_vectorindex"
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="one_active_index"
            )
        ]

    def __str__(self) -> str:
        return f"{self.collection} ({self.state})"
