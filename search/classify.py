"""Zero-shot classification of one image against labels the caller names."""

from __future__ import annotations

from uuid import UUID

from django.core.files import File

from core.errors import ApplicationError
from encoder.zeroshot import classify_vector
from gallery.indexes import search_encoder
from search.services import User, image_vectors, upload_vector

MAX_LABELS = 100


def classify(
    *, user: User, labels: list[str], image_id: UUID | None = None, upload: File | None = None
) -> list[tuple[str, float]]:
    """Probabilities per label, highest first, using CLIP prompt templates with ensembling."""
    labels = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    if not 2 <= len(labels) <= MAX_LABELS:
        raise ApplicationError(
            "invalid_labels", f"Give between 2 and {MAX_LABELS} distinct labels."
        )
    if (image_id is None) == (upload is None):
        raise ApplicationError("invalid_image", "Give either image_id or a file, not both.")
    encoder = search_encoder()
    if upload is None:
        known = UUID(str(image_id))
        vector = image_vectors(user=user, encoder=encoder, ids=[known])[known]
    else:
        vector = upload_vector(encoder=encoder, upload=upload)
    return classify_vector(encoder, vector, labels)
