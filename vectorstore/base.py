"""The adapter contract every vector store implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import numpy as np

from core.errors import ServiceUnavailable
from vectorstore.filters import Filter

# The two vectors of a point: CLIP's (unnamed, as collections made before
# the lexical one had it) and the sparse lexical one, scored with Qdrant's IDF.
DENSE_VECTOR = ""
LEXICAL_VECTOR = "text"
# The payload field holding the lexical document, full-text indexed for phrases.
TEXT_FIELD = "text"
# What a point stands for: absent for an image, "video" for a video's moment.
KIND_FIELD = "kind"
# A moment's video.
VIDEO_FIELD = "video"
# What a grouped query groups by: an image's own id, a moment's video
# (`vectorstore.grouping`).
GROUP_FIELD = "group"
# Reciprocal rank fusion's k: a result at rank r on a side adds 1 / (k + r).
RRF_K = 60
# The weights of the dense and the lexical side. Qdrant divides a side's rank
# by its weight, so a heavier side's lower places lose less: the lexical side's
# 1.001 keeps two points whose ranks are swapped between the sides (an equal
# sum) from being ordered by the engine's hash order, and puts CLIP's first
# ahead; a page is the same on every call.
RRF_WEIGHTS = (1.0, 1.001)

# Payload fields that search filters on, and the index type each gets.
PAYLOAD_INDEXES: dict[str, str] = {
    "owner": "keyword",
    "visibility": "keyword",
    "format": "keyword",
    "tags": "keyword",
    "hidden": "integer",
    "width": "integer",
    "height": "integer",
    "timestamp": "datetime",
    "uploaded_at": "datetime",
    "taken_at": "datetime",
    "camera": "keyword",
    "place": "keyword",
    "country": "keyword",
    "has_text": "integer",
    "place_shown": "integer",
    "location": "geo",
    TEXT_FIELD: "text",
    KIND_FIELD: "keyword",
    VIDEO_FIELD: "keyword",
    GROUP_FIELD: "keyword",
    "duration": "float",
}


class VectorStoreUnavailable(ServiceUnavailable):
    def __init__(self, message: str) -> None:
        super().__init__("vector_store_unavailable", message)


class VectorStoreTimeout(VectorStoreUnavailable):
    """The store did not answer within its timeout (a 503 with its own code)."""

    def __init__(self, message: str) -> None:
        ServiceUnavailable.__init__(self, "vector_store_timeout", message)


@dataclass(frozen=True)
class SparseVector:
    """A lexical vector: term ids and their weights (BM25 term frequencies; IDF is the store's)."""

    indices: tuple[int, ...] = ()
    values: tuple[float, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.indices)


@dataclass(frozen=True)
class VectorPoint:
    id: UUID
    vector: np.ndarray
    payload: dict[str, Any] = field(default_factory=dict)
    lexical: SparseVector | None = None


@dataclass(frozen=True)
class LexicalPoint:
    """A point's lexical side alone: its sparse vector and the payload keys built with it."""

    id: UUID
    lexical: SparseVector
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: UUID
    score: float
    payload: dict[str, Any] | None = None
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class VectorQuery:
    """One query: nearest to `vector`, or Qdrant's recommend over `positives`/`negatives`,
    or nearest to the sparse `lexical` vector, or both sides fused.

    `strategy` picks Qdrant's recommend scoring: "best_score" (a point scores
    by its best positive unless a negative is closer) or "sum_scores" (sum of
    positive minus negative similarities). Given a dense side and `lexical`,
    the store takes each side's best `fusion_window` points within `filter`
    and fuses the two rankings by reciprocal rank (`RRF_K`), in one request.
    `score_threshold` bounds a dense-only query's cosine. With `group_size`,
    `limit` counts groups (`GROUP_FIELD`): the store returns the best `limit`
    groups, each group's best `group_size` hits together, best group first.
    """

    vector: np.ndarray | None = None
    positives: tuple[np.ndarray, ...] = ()
    negatives: tuple[np.ndarray, ...] = ()
    strategy: str = "best_score"
    limit: int = 10
    offset: int = 0
    filter: Filter | None = None
    score_threshold: float | None = None
    with_payload: bool = False
    with_vectors: bool = False
    lexical: SparseVector | None = None
    fusion_window: int = 100
    group_size: int = 0

    def __post_init__(self) -> None:
        if self.vector is not None and self.positives:
            raise ValueError("give either vector or positives")
        if not self.dense and self.lexical is None:
            raise ValueError("give vector, positives or lexical")
        if self.strategy not in {"best_score", "sum_scores"}:
            raise ValueError(f"unknown recommend strategy {self.strategy!r}")
        if self.score_threshold is not None and self.lexical is not None:
            raise ValueError("score_threshold bounds a dense-only query")
        if self.group_size and self.offset:
            raise ValueError("a grouped query starts at its first group")

    @property
    def dense(self) -> bool:
        """Whether the query has a dense side (a vector, or positives to recommend from)."""
        return self.vector is not None or bool(self.positives)


class GraphMaintenance(Protocol):
    """HNSW graph upkeep for a store that does not build its graphs by itself.

    The embedded engine has it (`VectorStore.maintenance()`); a Qdrant
    server's optimizer builds and merges by itself, so its adapter has none.
    Every method raises `VectorStoreUnavailable` as the store's do.
    """

    def optimize(self, collection: str) -> bool:
        """Build the graph in this process, blocking it: for off-line use. True if it changed."""
        ...

    def wait_for_graph(self, collection: str) -> None:
        """Block until the points written so far are in the graph."""
        ...

    def indexed_vectors(self, collection: str) -> int:
        """How many vectors the graph holds (the rest are scanned)."""
        ...

    def segments(self, collection: str) -> int:
        """How many segments the collection is cut into (filter thresholds apply per segment)."""
        ...

    def graph_linked_fields(self, collection: str) -> set[str]:
        """Payload fields whose values have graph links of their own (`payload_m`)."""
        ...


class VectorStore(Protocol):
    """Cosine-distance collections of image vectors keyed by image UUID.

    Upserts are idempotent (same id, same point). `delete` and `set_payload`
    apply to every collection, since an image may have been indexed under an
    earlier model; an id that a collection does not hold is skipped there, not
    an error. Every method raises `VectorStoreUnavailable` when the store
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

    def query(self, collection: str, query: VectorQuery) -> list[Hit]: ...

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[Hit]]: ...

    def retrieve_vectors(self, collection: str, ids: Sequence[UUID]) -> dict[UUID, np.ndarray]: ...

    def count(self, collection: str, filter: Filter | None = None) -> int: ...

    def set_payload(self, ids: Sequence[UUID], payload: dict[str, Any]) -> None: ...

    def set_lexical(self, points: Sequence[LexicalPoint]) -> None:
        """Replace the lexical vector and set the payload keys of `points` in every collection."""
        ...

    def delete(self, ids: Sequence[UUID]) -> None: ...

    def collections(self) -> list[str]: ...

    def iter_ids(
        self, collection: str, batch: int = 1000, *, start: UUID | None = None
    ) -> Iterator[UUID]:
        """The collection's point ids in id order (as 128-bit numbers), from `start` on."""
        ...

    def ping(self) -> None: ...

    def maintenance(self) -> GraphMaintenance | None:
        """The store's graph upkeep, or None where the store does it by itself."""
        ...

    def close(self) -> None: ...


class QueryShortcuts:
    """`search` in terms of `query`, shared by the adapters."""

    def query(self, collection: str, query: VectorQuery) -> list[Hit]:
        raise NotImplementedError

    def search(
        self,
        collection: str,
        vector: np.ndarray,
        *,
        limit: int,
        offset: int = 0,
        filter: Filter | None = None,
    ) -> list[Hit]:
        return self.query(
            collection, VectorQuery(vector=vector, limit=limit, offset=offset, filter=filter)
        )
