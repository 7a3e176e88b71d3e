"""Vector storage: one adapter contract, two Qdrant implementations, picked by settings."""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from vectorstore.base import (
    GraphMaintenance,
    Hit,
    LexicalPoint,
    SparseVector,
    VectorPoint,
    VectorQuery,
    VectorStore,
    VectorStoreUnavailable,
)
from vectorstore.client import QdrantClientStore
from vectorstore.edge import EdgeStore
from vectorstore.filters import (
    DateRange,
    Filter,
    GeoBox,
    GeoRadius,
    HasId,
    Match,
    MatchAny,
    Phrase,
    Range,
)

__all__ = [
    "DateRange",
    "EdgeStore",
    "Filter",
    "GeoBox",
    "GeoRadius",
    "GraphMaintenance",
    "HasId",
    "Hit",
    "LexicalPoint",
    "Match",
    "MatchAny",
    "Phrase",
    "QdrantClientStore",
    "Range",
    "SparseVector",
    "VectorPoint",
    "VectorQuery",
    "VectorStore",
    "VectorStoreUnavailable",
    "get_store",
    "reset_store",
]

_store: VectorStore | None = None
_lock = threading.Lock()


def get_store() -> VectorStore:
    """The process-wide store described by `settings.VECTOR_STORE`, opened on first use."""
    global _store
    if _store is None:
        with _lock:
            if _store is None:
                config = settings.VECTOR_STORE
                _store = import_string(config["BACKEND"])(**config.get("OPTIONS", {}))
    return _store


def reset_store() -> None:
    """Close the store (releasing an embedded directory) so the next use reopens it."""
    global _store
    with _lock:
        if _store is not None:
            _store.close()
        _store = None
