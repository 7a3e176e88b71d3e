"""Moderation of queries: refuse blocklisted words and queries whose meaning is an unsafe
concept (the concepts images are screened for, `gallery.moderation`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.conf import settings

from core.errors import ApplicationError
from encoder import ClipEncoder
from gallery.moderation import blocklisted_words, concept_scores


def query_check(*, encoder: ClipEncoder, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Refuse a query whose words are blocklisted or whose meaning is an unsafe concept."""
    for text, vector in zip(texts, vectors, strict=True):
        if blocklisted_words(text):
            raise _rejected()
        for _, cosine, threshold in concept_scores(encoder, vector):
            if cosine >= threshold + settings.MODERATION_QUERY_MARGIN:
                raise _rejected()


def _rejected() -> ApplicationError:
    return ApplicationError("query_rejected", "This search is not allowed here.")
