"""The adapter contract every vector store implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import numpy as np

from clipsite.errors import ServiceUnavailable
from workers.vectorstore.filters import Filter

# Payload fields that search filters on, and the index type each gets.
PAYLOAD_INDEXES: dict[str, str] = {
    "owner": "keyword",
    "visibility": "keyword",
    "format": "keyword",
    "tags": "keyword",
    "width": "integer",
    "height": "integer",
    "timestamp": "datetime",
    "uploaded_at": "datetime",
    "taken_at": "datetime",
}


class VectorStoreUnavailable(ServiceUnavailable):
    def __init__(self, message: str) -> None:
        super().__init__("vector_store_unavailable", message)


@dataclass(frozen=True)
class VectorPoint:
    id: UUID
    vector: np.ndarray
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: UUID
    score: float


class VectorStore(Protocol):
    """Cosine-distance collections of image vectors keyed by image UUID.

    Upserts are idempotent (same id, same point). `delete` and `set_payload`
    apply to every collection, since an image may have been indexed under an
    earlier model. Every method raises `VectorStoreUnavailable` when the store
    cannot be reached.
    """

    def ensure_collection(self, name: str, dim: int) -> None: ...

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None: ...

    def search(
        self,
        collection: str,
        vector: np.ndarray,
        *,
        limit: int,
        offset: int = 0,
        filter: Filter | None = None,
    ) -> list[Hit]: ...

    def retrieve_vectors(self, collection: str, ids: Sequence[UUID]) -> dict[UUID, np.ndarray]: ...

    def count(self, collection: str, filter: Filter | None = None) -> int: ...

    def set_payload(self, ids: Sequence[UUID], payload: dict[str, Any]) -> None: ...

    def delete(self, ids: Sequence[UUID]) -> None: ...

    def collections(self) -> list[str]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
