"""Moderation of images: CLIP zero-shot checks at index time, and staff reviews.

Concepts and thresholds come from settings (`MODERATION_CONCEPTS`). An image
whose cosine similarity to a concept reaches its threshold is flagged: hidden
from everyone but its owner and staff until a staff member approves or rejects
it. Every decision, the system's included, is recorded with who, when and why.
"""

from __future__ import annotations

import re

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from core.errors import ApplicationError
from encoder import ClipEncoder
from encoder.zeroshot import label_vectors
from gallery.models import Image, ModerationDecision
from vectorstore import get_store


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
        return _flag(image, f"matches {name!r} (cosine {cosine:.3f})")
    return image_screen_words(image=image)


def image_screen_words(*, image: Image) -> bool:
    """`image_screen`'s word check alone, for when only the words changed (a caption)."""
    words = blocklisted_words(image.lexical_document())
    if not words:
        return False
    return _flag(image, "shows blocklisted words: " + ", ".join(repr(w) for w in words[:5]))


def _flag(image: Image, reason: str) -> bool:
    if image.moderation in (Image.Moderation.APPROVED, Image.Moderation.REJECTED):
        return False
    with transaction.atomic():
        image.moderation = Image.Moderation.FLAGGED
        image.moderation_reason = reason
        image.save(update_fields=["moderation", "moderation_reason"])
        ModerationDecision.objects.create(
            image=image, decision=ModerationDecision.Decision.FLAGGED, reason=reason
        )
    return True


def image_review(
    *, image: Image, decision: str, reviewer: AbstractBaseUser, reason: str = ""
) -> Image:
    """A staff decision: approve (visible again) or reject (hidden for good). Recorded."""
    states = {"approve": Image.Moderation.APPROVED, "reject": Image.Moderation.REJECTED}
    if decision not in states:
        raise ApplicationError("invalid_decision", "The decision is approve or reject.")
    if not getattr(reviewer, "is_staff", False):
        raise ApplicationError("forbidden", "Only staff review images.", status=403)
    with transaction.atomic():
        # Locked as indexing locks it, so a decision made mid-index reaches the store.
        status = Image.objects.select_for_update().values_list("status", flat=True).get(pk=image.pk)
        image.moderation = states[decision]
        image.moderation_reason = reason[:255]
        image.save(update_fields=["moderation", "moderation_reason"])
        ModerationDecision.objects.create(
            image=image,
            decision=states[decision],
            decided_by=reviewer,  # type: ignore[misc]
            reason=reason[:500],
        )
        if status == Image.Status.INDEXED:
            get_store().set_payload([image.id], {"hidden": int(image.is_hidden)})
    return image
