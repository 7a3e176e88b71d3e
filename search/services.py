"""Search: build the query vector(s), ask the vector store within what the user may see, load rows.

A request mixes positive texts (weighted), an example image (by id or upload),
negative texts and negative images. Positives are combined into one vector;
negatives steer away from it, either by vector arithmetic or by Qdrant's
recommend scoring (`SEARCH_NEGATIVE_STRATEGY`). Every result's `score` is its
cosine similarity to the combined positive vector.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.core.files import File

from core.errors import ApplicationError
from core.metrics import SEARCH_STAGE_SECONDS, timed
from encoder.clip import ClipEncoder
from gallery.indexes import search_encoder
from gallery.models import Image
from gallery.validation import inspect_image, read_upload
from search.filters import parse_filter
from search.moderation import query_check
from search.querycache import text_vectors
from vectorstore import Filter, HasId, Hit, Match, VectorQuery, get_store

User = AbstractBaseUser | AnonymousUser
CURSOR_SALT = "search.cursor"


@dataclass(frozen=True)
class TextTerm:
    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class SearchRequest:
    """Everything a search can say. At least one positive (text or image) is required."""

    texts: tuple[TextTerm, ...] = ()
    image_id: UUID | None = None
    # An example picture sent with the query (never stored), encoded by `search`.
    image_upload: File | None = field(default=None, compare=False)
    image_vector: np.ndarray | None = field(default=None, compare=False)
    negative_texts: tuple[str, ...] = ()
    negative_image_ids: tuple[UUID, ...] = ()
    text_weight: float = 0.5
    limit: int = 10
    offset: int = 0
    cursor: str | None = None
    min_score: float | None = None
    filters: Any = None
    facets: bool = False
    exclude_ids: tuple[UUID, ...] = ()

    def fingerprint(self) -> str:
        """Identifies the query apart from paging, so a cursor only continues its own query."""
        parts = {
            "texts": [(t.text, t.weight) for t in self.texts],
            "image_id": str(self.image_id),
            "image": hashlib.sha256(self.image_vector.tobytes()).hexdigest()
            if self.image_vector is not None
            else None,
            "neg": list(self.negative_texts),
            "neg_ids": [str(i) for i in self.negative_image_ids],
            "tw": self.text_weight,
            "min": self.min_score,
            "filters": self.filters,
            "limit": self.limit,
            "exclude": [str(i) for i in self.exclude_ids],
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]


@dataclass(frozen=True)
class SearchResult:
    image: Image
    score: float


@dataclass
class SearchPage:
    results: list[SearchResult]
    next_cursor: str | None = None
    facets: dict[str, dict[str, int]] | None = None


@dataclass(frozen=True)
class _Prepared:
    request: SearchRequest
    positive: np.ndarray
    query: VectorQuery


def access_filter(user: User) -> Filter:
    """What `user` may see: their own images and public ones. Applied inside every vector query."""
    if not user.is_authenticated:
        raise ApplicationError("not_authenticated", "Sign in to search.", status=401)
    # must_not rather than hidden == 0, so points written before moderation
    # existed (no "hidden" key) still count as shown.
    shared = Filter(must=(Match("visibility", "public"),), must_not=(Match("hidden", 1),))
    return Filter(should=(Match("owner", str(user.pk)), shared))


def search(*, user: User, request: SearchRequest) -> SearchPage:
    """One search. Raises `ApplicationError` (400) for a query that cannot be answered."""
    return search_batch(user=user, requests=[request])[0]


def search_batch(*, user: User, requests: Sequence[SearchRequest]) -> list[SearchPage]:
    """Several searches: all texts go through the text tower in one batch, and all vector
    queries go to the store in one batched call."""
    encoder = search_encoder()
    requests = [_with_cursor(_with_upload(encoder, r)) for r in requests]
    positives = [t.text for r in requests for t in r.texts]
    texts = positives + [n for r in requests for n in r.negative_texts]
    with timed(SEARCH_STAGE_SECONDS, stage="encode"):
        encoded = text_vectors(encoder, texts) if texts else np.zeros((0, encoder.dim))
    query_check(encoder=encoder, texts=positives, vectors=encoded[: len(positives)])
    vectors = dict(zip(texts, encoded, strict=True))
    prepared = [_prepare(user, encoder, r, vectors) for r in requests]
    store = get_store()
    collection = encoder.collection_name
    with timed(SEARCH_STAGE_SECONDS, stage="vector_query"):
        hit_lists = store.query_batch(collection, [p.query for p in prepared])
    pages = []
    for item, hits in zip(prepared, hit_lists, strict=True):
        with timed(SEARCH_STAGE_SECONDS, stage="hydrate"):
            page = _page(user, item, hits)
        if item.request.facets:
            window = replace(
                item.query, limit=settings.SEARCH_FACET_WINDOW, offset=0, with_payload=True
            )
            page.facets = _facets(item, store.query(collection, window))
        pages.append(page)
    return pages


def similar_images(*, user: User, image: Image, limit: int = 10) -> SearchPage:
    """More like this: the nearest images to `image`, excluding itself."""
    return search(
        user=user, request=SearchRequest(image_id=image.id, limit=limit, exclude_ids=(image.id,))
    )


def image_vectors(
    *, user: User, encoder: ClipEncoder, ids: Sequence[UUID]
) -> dict[UUID, np.ndarray]:
    """Stored vectors of indexed images `user` may see; any other id is a 400."""
    if not ids:
        return {}
    visible = set(
        Image.objects.visible_to(user)
        .filter(pk__in=ids, status=Image.Status.INDEXED)
        .order_by()
        .values_list("pk", flat=True)
    )
    vectors = get_store().retrieve_vectors(
        encoder.collection_name, [i for i in ids if i in visible]
    )
    missing = [str(i) for i in ids if i not in vectors]
    if missing:
        raise ApplicationError(
            "image_not_indexed",
            "These images are not indexed, or not yours to search by: " + ", ".join(missing),
        )
    return vectors


def upload_vector(*, encoder: ClipEncoder, upload: File) -> np.ndarray:
    """The vector of an uploaded picture, decoded as uploads are. Raises `InvalidImage` (400)."""
    return encoder.encode_images([inspect_image(read_upload(upload)).image])[0]


def _with_upload(encoder: ClipEncoder, request: SearchRequest) -> SearchRequest:
    if request.image_upload is None:
        return request
    # An example picture is never paged: its query has no cursor.
    vector = upload_vector(encoder=encoder, upload=request.image_upload)
    return replace(request, image_upload=None, image_vector=vector, cursor=None)


def _with_cursor(request: SearchRequest) -> SearchRequest:
    if not request.cursor:
        return request
    try:
        data = signing.loads(request.cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise ApplicationError("invalid_cursor", "The cursor is not valid.") from None
    if data.get("q") != request.fingerprint():
        raise ApplicationError("invalid_cursor", "The cursor belongs to another query.")
    return replace(request, offset=int(data["o"]))


def _prepare(
    user: User, encoder: ClipEncoder, request: SearchRequest, vectors: dict[str, np.ndarray]
) -> _Prepared:
    if not 1 <= request.limit <= settings.SEARCH_MAX_LIMIT:
        raise ApplicationError(
            "invalid_limit", f"limit must be between 1 and {settings.SEARCH_MAX_LIMIT}."
        )
    ids = [i for i in (request.image_id,) if i is not None] + list(request.negative_image_ids)
    stored = image_vectors(user=user, encoder=encoder, ids=ids)

    text_part = _weighted(
        [vectors[t.text] for t in request.texts], [t.weight for t in request.texts]
    )
    images = [stored[request.image_id]] if request.image_id else []
    if request.image_vector is not None:
        images.append(request.image_vector)
    image_part = _weighted(images, [1.0] * len(images))
    if text_part is None and image_part is None:
        if request.negative_texts or request.negative_image_ids:
            raise ApplicationError(
                "negative_only_query",
                "A query needs something to look for, not only things to avoid: "
                "add a query text or an image.",
            )
        raise ApplicationError("empty_query", "Give a query text or an image.")
    if text_part is not None and image_part is not None:
        positive = _normalise(
            request.text_weight * text_part + (1 - request.text_weight) * image_part
        )
    else:
        positive = text_part if text_part is not None else image_part  # type: ignore[assignment]

    negatives = [vectors[n] for n in request.negative_texts] + [
        stored[i] for i in request.negative_image_ids
    ]
    scope = Filter(must=tuple(c for c in (access_filter(user), parse_filter(request.filters)) if c))
    if request.exclude_ids:
        scope = Filter(must=scope.must, must_not=(HasId(request.exclude_ids),))
    strategy = settings.SEARCH_NEGATIVE_STRATEGY
    # Recommend scoring compares a candidate's similarity to the positive with
    # its similarity to each negative. Image-image similarities run far higher
    # than image-text ones (CLIP's modality gap), so when the two sides are of
    # different kinds a negative could never win: subtract it instead.
    positive_kinds = {"text"} if text_part is not None else set()
    if image_part is not None:
        positive_kinds.add("image")
    negative_kinds = {"text"} if request.negative_texts else set()
    if request.negative_image_ids:
        negative_kinds.add("image")
    if positive_kinds != negative_kinds:
        strategy = "arithmetic"
    vector: np.ndarray | None = positive
    if negatives and strategy == "arithmetic":
        vector = _normalise(positive - settings.SEARCH_NEGATIVE_WEIGHT * np.mean(negatives, axis=0))
    recommend = bool(negatives) and strategy != "arithmetic"
    query = VectorQuery(
        vector=None if recommend else vector,
        positives=(positive,) if recommend else (),
        negatives=tuple(negatives) if recommend else (),
        strategy=strategy if recommend else "best_score",
        # One extra result tells whether another page exists.
        limit=request.limit + 1,
        offset=request.offset,
        filter=scope,
        # Without negatives the store scores by cosine to the positive vector
        # and can apply the threshold itself; otherwise _scored does.
        score_threshold=None if negatives else request.min_score,
        # Only a query moved by negatives rescores its hits by their vectors.
        with_vectors=bool(negatives),
    )
    return _Prepared(request=request, positive=positive, query=query)


def _page(user: User, item: _Prepared, hits: list[Hit]) -> SearchPage:
    request = item.request
    more = len(hits) > request.limit
    scored = _scored(item, hits[: request.limit])
    rows = Image.objects.visible_to(user).order_by().in_bulk([hit_id for hit_id, _ in scored])
    results = [SearchResult(image=rows[i], score=s) for i, s in scored if i in rows]
    cursor = None
    if more:
        payload = {"o": request.offset + request.limit, "q": request.fingerprint()}
        cursor = signing.dumps(payload, salt=CURSOR_SALT, compress=True)
    return SearchPage(results=results, next_cursor=cursor)


def _scored(item: _Prepared, hits: list[Hit]) -> list[tuple[UUID, float]]:
    """(id, cosine to the positive vector), keeping the store's order, above `min_score`."""
    scored = []
    # A plain nearest query already scores by cosine to the positive vector;
    # keep the store's number so it agrees with the store's own threshold.
    plain = item.query.vector is not None and np.array_equal(item.query.vector, item.positive)
    for hit in hits:
        rescore = not plain and hit.vector is not None
        score = float(hit.vector @ item.positive) if rescore else hit.score
        if item.request.min_score is None or score >= item.request.min_score:
            scored.append((hit.id, score))
    return scored


def _facets(item: _Prepared, hits: list[Hit]) -> dict[str, dict[str, int]]:
    """Counts per format and tag over the query's result window (scores above min_score)."""
    kept = {hit_id for hit_id, _ in _scored(item, hits)}
    formats: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for hit in hits:
        if hit.id in kept and hit.payload:
            formats[str(hit.payload.get("format"))] += 1
            tags.update(str(t) for t in hit.payload.get("tags") or [])
    return {"format": dict(formats.most_common()), "tag": dict(tags.most_common(50))}


def _weighted(vectors: list[np.ndarray], weights: list[float]) -> np.ndarray | None:
    if not vectors:
        return None
    total = np.sum([w * v for w, v in zip(weights, vectors, strict=True)], axis=0)
    return _normalise(total)


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise ApplicationError(
            "degenerate_query", "The query terms cancel each other out; change their weights."
        )
    return (vector / norm).astype(np.float32)
