"""Moderation of images and videos: CLIP zero-shot checks at index time, and staff reviews.

Concepts and thresholds come from settings (`MODERATION_CONCEPTS`). An image
whose cosine similarity to a concept reaches its threshold is flagged, and so is
a video with one moment that does (`gallery.videoindexing`): hidden from
everyone but its owner and staff until a staff member approves or rejects it.
Every decision is recorded with who, when and why: an image's flag too, and
each staff review of an image (`image_review`) or a video (`gallery.videos.video_review`).

Who reviews is staff (`is_reviewer`): the review pages, the API and the services
ask the same question. A reviewer may also open the videos moderation hides
(`videos_viewable_by`), so the queue's links to a video and its moments work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeGuard
from uuid import UUID

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Prefetch

from core.errors import ApplicationError
from encoder import ClipEncoder
from encoder.zeroshot import label_vectors
from gallery.models import Image, ModerationDecision, Video, VideoMoment, VideoQuerySet
from gallery.timeline import Timeline
from vectorstore import get_store

# What a reviewer's decision sets.
REVIEW_STATES = {"approve": Image.Moderation.APPROVED, "reject": Image.Moderation.REJECTED}


def concept_scores(encoder: ClipEncoder, vector: np.ndarray) -> list[tuple[str, float, float]]:
    """(concept, cosine, threshold) for each configured concept."""
    concepts: dict[str, float] = settings.MODERATION_CONCEPTS
    if not concepts:
        return []
    names = list(concepts)
    cosines = label_vectors(encoder, names) @ vector
    return [(name, float(c), concepts[name]) for name, c in zip(names, cosines, strict=True)]


def blocklisted_words(text: str) -> list[str]:
    """The words of `text` on `MODERATION_QUERY_BLOCKLIST`, in order, once each."""
    blocked = {word.lower() for word in settings.MODERATION_QUERY_BLOCKLIST}
    if not blocked:
        return []
    return list(dict.fromkeys(w for w in re.findall(r"[\w']+", text.lower()) if w in blocked))


def image_screen(*, image: Image, encoder: ClipEncoder, vector: np.ndarray) -> bool:
    """Flag `image` if it matches an unsafe concept, or its words are blocklisted.

    The words are those it is found by (`Image.lexical_document`: the text
    recognised in it, its caption, its file name...), checked as queries are.
    Staff decisions are never overridden. Returns whether the image is
    flagged. Writes the row and a decision record.
    """
    hits = [(name, c) for name, c, threshold in concept_scores(encoder, vector) if c >= threshold]
    if hits:
        name, cosine = max(hits, key=lambda h: h[1])
        return moderation_flag(row=image, reason=f"matches {name!r} (cosine {cosine:.3f})")
    return image_screen_words(image=image)


def image_screen_words(*, image: Image) -> bool:
    """`image_screen`'s word check alone, for when only the words changed (a caption)."""
    words = blocklisted_words(image.lexical_document())
    if not words:
        return False
    reason = "shows blocklisted words: " + ", ".join(repr(w) for w in words[:5])
    return moderation_flag(row=image, reason=reason)


def moderation_flag(*, row: Image | Video, reason: str) -> bool:
    """Flag `row` for review with `reason`, recorded as screening's decision; False (and
    nothing changed) where a reviewer has decided already."""
    if row.moderation in (Image.Moderation.APPROVED, Image.Moderation.REJECTED):
        return False
    subject = {"video": row} if isinstance(row, Video) else {"image": row}
    with transaction.atomic():
        row.moderation = Image.Moderation.FLAGGED
        row.moderation_reason = reason[:255]
        row.save(update_fields=["moderation", "moderation_reason"])
        ModerationDecision.objects.create(
            **subject,
            decision=ModerationDecision.Decision.FLAGGED,
            reason=reason[:500],
        )
    return True


def is_reviewer(user: AbstractBaseUser | AnonymousUser) -> TypeGuard[AbstractBaseUser]:
    """Whether `user` reviews flagged images and videos: staff, as the API's `IsAdminUser`."""
    return bool(getattr(user, "is_staff", False))


def review_state(*, decision: str, reviewer: AbstractBaseUser) -> Image.Moderation:
    """The moderation state a reviewer's `decision` ("approve" or "reject") sets.

    What `image_review` and `video_review` check before they change anything.
    Raises `ApplicationError`: `invalid_decision` (400) for another decision,
    `forbidden` (403) for a reviewer who is not staff.
    """
    if decision not in REVIEW_STATES:
        raise ApplicationError("invalid_decision", "The decision is approve or reject.")
    if not is_reviewer(reviewer):
        raise ApplicationError("forbidden", "Only staff review images and videos.", status=403)
    return REVIEW_STATES[decision]


def review_record(
    *, row: Image | Video, state: str, reviewer: AbstractBaseUser, reason: str = ""
) -> None:
    """Set `row`'s moderation to `state` with `reason`, and record the reviewer's decision.

    The part of a review that images and videos share. Call it inside the
    caller's transaction, with the row locked, so that the row and its record
    change together with the store's `hidden` payload that the caller sets.
    """
    row.moderation = state
    row.moderation_reason = reason[:255]
    row.save(update_fields=["moderation", "moderation_reason"])
    subject = {"video": row} if isinstance(row, Video) else {"image": row}
    ModerationDecision.objects.create(
        **subject,
        decision=state,
        decided_by=reviewer,  # type: ignore[misc]
        reason=reason[:500],
    )


def image_review(
    *, image: Image, decision: str, reviewer: AbstractBaseUser, reason: str = ""
) -> Image:
    """A staff decision: approve (visible again) or reject (hidden for good). Recorded.

    Raises `ApplicationError` as `review_state` does, before anything changes.
    """
    state = review_state(decision=decision, reviewer=reviewer)
    with transaction.atomic():
        # Locked as indexing locks it, so a decision made mid-index reaches the store.
        status = Image.objects.select_for_update().values_list("status", flat=True).get(pk=image.pk)
        review_record(row=image, state=state, reviewer=reviewer, reason=reason)
        if status == Image.Status.INDEXED:
            get_store().set_payload([image.id], {"hidden": int(image.is_hidden)})
    return image


def videos_viewable_by(user: AbstractBaseUser | AnonymousUser) -> VideoQuerySet:
    """The videos `user` may open (page, file, poster, moments): those they may see
    (`visible_to`), and for a reviewer every video moderation hides (flagged or rejected),
    whoever owns it and whatever its visibility. Nobody else sees more."""
    visible = Video.objects.visible_to(user)
    if not is_reviewer(user):
        return visible
    return visible | Video.objects.filter(moderation__in=Image.HIDDEN_STATES)


@dataclass(frozen=True)
class QueueEntry:
    """One item awaiting review: an image, or a video with the moments that crossed a
    concept, in order."""

    subject: Image | Video
    moments: Sequence[VideoMoment] = field(default=())

    @property
    def kind(self) -> str:
        return "video" if isinstance(self.subject, Video) else "image"

    @staticmethod
    def of(row: Image | Video) -> QueueEntry:
        """An entry of `review_queue`, whose videos carry their crossing moments."""
        return QueueEntry(row, getattr(row, "crossed", ()))


def review_queue() -> Timeline[QueueEntry]:
    """What awaits review, images and videos in one list, oldest upload first, as Django's
    `Paginator` takes it (`gallery.timeline.Timeline`); a video comes with the moments
    that crossed a concept (one query for a page's)."""
    crossed = VideoMoment.objects.exclude(flagged="").order_by("start")
    videos = Video.objects.awaiting_review().prefetch_related(
        Prefetch("moments", queryset=crossed, to_attr="crossed")
    )
    return Timeline(
        Image.objects.awaiting_review(), videos, entry=QueueEntry.of, newest_first=False
    )


def review_subject(pk: UUID | str) -> Image | Video | None:
    """The image or video with id `pk` (the review pages and API take either), or None."""
    return Image.objects.filter(pk=pk).first() or Video.objects.filter(pk=pk).first()
