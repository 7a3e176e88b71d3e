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
    VectorStoreTimeout,
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
    "VectorStoreTimeout",
    "VectorStoreUnavailable",
    "get_store",
    "reset_store",
    "search_alias",
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


def search_alias() -> QdrantClientStore | None:
    """The store's search alias, where a model switch flips one (a Qdrant server):
    `search_collection()` names the collection search reads, `activate()` switches
    it. None where search follows the active `VectorIndex` row alone (the
    embedded engine)."""
    # Asked of the settings first: every search asks, and a store without an
    # alias need not be opened for it.
    if not settings.VECTOR_STORE.get("OPTIONS", {}).get("search_alias"):
        return None
    store = get_store()
    return store.search_alias() if isinstance(store, QdrantClientStore) else None


def reset_store() -> None:
    """Close the store (releasing an embedded directory) so the next use reopens it."""
    global _store
    with _lock:
        if _store is not None:
            _store.close()
        _store = None
