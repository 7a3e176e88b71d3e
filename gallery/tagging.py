"""Auto-tags at index time: the vocabulary's most probable labels for each image."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from encoder import ClipEncoder
from encoder.zeroshot import classify_vector
from gallery.models import TagLabel


def tag_vocabulary() -> list[str]:
    """Labels from settings and from the admin-managed list, deduplicated, in a stable order."""
    names = [
        *settings.AUTO_TAG_LABELS,
        *TagLabel.objects.filter(active=True).values_list("name", flat=True),
    ]
    return sorted({name.strip().lower() for name in names if name.strip()})


def auto_tags(encoder: ClipEncoder, image_vector: np.ndarray) -> list[str]:
    """The vocabulary's most probable labels for an image, above `AUTO_TAG_MIN_PROBABILITY`."""
    vocabulary = tag_vocabulary()
    if len(vocabulary) < 2:
        return []
    ranked = classify_vector(encoder, image_vector, vocabulary)
    return [
        label
        for label, probability in ranked[: settings.AUTO_TAG_MAX]
        if probability >= settings.AUTO_TAG_MIN_PROBABILITY
    ]
