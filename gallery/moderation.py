"""Moderation of images: CLIP zero-shot checks at index time, and staff reviews.

Concepts and thresholds come from settings (`MODERATION_CONCEPTS`). An image
whose cosine similarity to a concept reaches its threshold is flagged: hidden
from everyone but its owner and staff until a staff member approves or rejects
it. Every decision, the system's included, is recorded with who, when and why.
"""

from __future__ import annotations

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


def image_screen(*, image: Image, encoder: ClipEncoder, vector: np.ndarray) -> bool:
    """Flag `image` if it matches an unsafe concept. Staff decisions are never overridden.

    Returns whether the image is flagged. Writes the row and a decision record.
    """
    if image.moderation in (Image.Moderation.APPROVED, Image.Moderation.REJECTED):
        return False
    hits = [(name, c) for name, c, threshold in concept_scores(encoder, vector) if c >= threshold]
    if not hits:
        return False
    name, cosine = max(hits, key=lambda h: h[1])
    reason = f"matches {name!r} (cosine {cosine:.3f})"
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
