"""Text query embeddings, cached: in process (LRU) and in the shared cache (Redis in production).

Keyed by model id, so a model change never serves a vector from another space.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from django.core.cache import cache

from encoder.clip import ClipEncoder

LOCAL_SIZE = 2048
SHARED_TIMEOUT = 24 * 3600

_local: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_lock = threading.Lock()


def text_vectors(encoder: ClipEncoder, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors for `texts`, running the text tower only for texts not cached anywhere."""
    found: dict[str, np.ndarray] = {}
    for text in dict.fromkeys(texts):
        vector = _local_get(encoder.model_id, text)
        if vector is not None:
            found[text] = vector
    shared_keys = {
        _shared_key(encoder.model_id, t): t for t in dict.fromkeys(texts) if t not in found
    }
    if shared_keys:
        for key, raw in cache.get_many(list(shared_keys)).items():
            vector = np.frombuffer(raw, dtype=np.float32)
            if vector.shape == (encoder.dim,):
                found[shared_keys[key]] = vector
                _local_put(encoder.model_id, shared_keys[key], vector)
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        encoded = encoder.encode_texts(missing)
        fresh = {}
        for text, vector in zip(missing, encoded, strict=True):
            found[text] = vector
            _local_put(encoder.model_id, text, vector)
            fresh[_shared_key(encoder.model_id, text)] = vector.astype(np.float32).tobytes()
        cache.set_many(fresh, timeout=SHARED_TIMEOUT)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([found[t] for t in texts])


def clear_local() -> None:
    with _lock:
        _local.clear()


def _shared_key(model_id: str, text: str) -> str:
    digest = hashlib.sha256(f"{model_id}\0{text}".encode()).hexdigest()[:40]
    return f"textvec:{digest}"


def _local_get(model_id: str, text: str) -> np.ndarray | None:
    with _lock:
        vector = _local.get((model_id, text))
        if vector is not None:
            _local.move_to_end((model_id, text))
        return vector


def _local_put(model_id: str, text: str, vector: np.ndarray) -> None:
    with _lock:
        _local[(model_id, text)] = vector
        _local.move_to_end((model_id, text))
        while len(_local) > LOCAL_SIZE:
            _local.popitem(last=False)
