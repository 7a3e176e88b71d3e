"""Zero-shot classification with CLIP prompt ensembling: the one set of prompts the product,
moderation and evaluation share."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from encoder.clip import ClipEncoder

# A few of CLIP's ImageNet prompt templates; averaging a label's prompts
# ("ensembling") is worth a few points of zero-shot accuracy over the bare word.
PROMPT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a bright photo of a {}.",
    "a drawing of a {}.",
    "{}",
)

_label_cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
_label_lock = threading.Lock()


def label_vectors(encoder: ClipEncoder, labels: Sequence[str]) -> np.ndarray:
    """One unit vector per label: the normalised mean of its prompt embeddings (cached)."""
    key = (encoder.model_id, tuple(labels))
    cached = _label_cache.get(key)
    if cached is not None:
        return cached
    prompts = [template.format(label) for label in labels for template in PROMPT_TEMPLATES]
    embedded = encoder.encode_texts(prompts).reshape(len(labels), len(PROMPT_TEMPLATES), -1)
    means = embedded.mean(axis=1)
    vectors = means / np.linalg.norm(means, axis=1, keepdims=True)
    with _label_lock:
        if len(_label_cache) > 64:
            _label_cache.clear()
        _label_cache[key] = vectors
    return vectors


def classify_vector(
    encoder: ClipEncoder, image_vector: np.ndarray, labels: Sequence[str]
) -> list[tuple[str, float]]:
    """Label probabilities for one image vector, highest first."""
    logits = encoder.logit_scale * (label_vectors(encoder, labels) @ image_vector)
    logits = logits - logits.max()
    probabilities = np.exp(logits) / np.exp(logits).sum()
    order = np.argsort(-probabilities, kind="stable")
    return [(labels[i], float(probabilities[i])) for i in order]
