"""Search: build the query vector(s), ask the vector store within what the user may see, load rows.

A request mixes positive texts (weighted), an example image (by id or upload),
negative texts and negative images. Positives are combined into one vector;
negatives steer away from it, either by vector arithmetic or by Qdrant's
recommend scoring (`SEARCH_NEGATIVE_STRATEGY`). Every result's `score` is its
cosine similarity to the combined positive vector.

Query texts are also matched by their words (`mode`): "hybrid" fuses CLIP's
ranking with the lexical one (BM25 over recognised text, caption, file name,
tags, place and camera; `gallery.lexical`) by reciprocal rank inside the
store, "text" ranks by words alone and "semantic" by CLIP alone. A quoted
phrase must appear as written (hybrid and text). Each result says which side
found it (`matched`) and, for words, shows where (`snippet`).
"""

from __future__ import annotations

import hashlib
import json
import re
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
from gallery.models import POINT_KIND_VIDEO, Image, Video
from gallery.validation import inspect_image, read_upload
from gallery.videoindexing import video_point_ids
from search.filters import parse_filter
from search.moderation import query_check
from search.modes import SEARCH_MODES
from search.querycache import text_vectors
from search.queryids import IMAGE, VIDEO, query_id_dumps
from vectorstore import Filter, HasId, Hit, Match, Phrase, VectorQuery, get_store
from vectorstore.base import KIND_FIELD, TEXT_FIELD, VIDEO_FIELD
from vectorstore.lexical import lexicon

User = AbstractBaseUser | AnonymousUser
CURSOR_SALT = "search.cursor"
# A video result shows up to this many of its moments.
MOMENTS_PER_VIDEO = 3


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
    # "hybrid", "semantic" or "text"; None: SEARCH_DEFAULT_MODE for a query
    # with text, "semantic" for one by image alone.
    mode: str | None = None

    @property
    def resolved_mode(self) -> str:
        if self.mode is not None:
            return self.mode
        return settings.SEARCH_DEFAULT_MODE if self.texts else "semantic"

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
            "mode": self.resolved_mode,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]


@dataclass(frozen=True)
class Snippet:
    """Words of a result's text around what matched; `highlights` are (start, end) in `text`."""

    source: str  # "text" (recognised in the picture) or "description"
    text: str
    highlights: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SearchResult:
    """`score` ranks the results (the cosine for a CLIP query, the store's fused or
    BM25 score for one with words); `similarity` is always the cosine to the query."""

    image: Image
    score: float
    similarity: float
    # Which side found it: "semantic" (CLIP ranked it within the fusion
    # window), "text" (it holds a query word).
    matched: tuple[str, ...] = ("semantic",)
    snippet: Snippet | None = None


@dataclass(frozen=True)
class MomentHit:
    """A stretch of a video that matched, and how well."""

    video_id: UUID
    point_id: UUID
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class VideoResult:
    """A video, scored by its best moment, with its best moments (best first)."""

    video: Video
    score: float
    similarity: float
    moments: tuple[MomentHit, ...]
    matched: tuple[str, ...] = ("semantic",)
    snippet: Snippet | None = None


@dataclass
class SearchPage:
    results: list[SearchResult | VideoResult]
    next_cursor: str | None = None
    facets: dict[str, dict[str, int]] | None = None
    # Signed: who searched, the query, the collection, the mode and each
    # result's rank (search.queryids); what feedback on a result names.
    query_id: str | None = None


@dataclass(frozen=True)
class _Prepared:
    request: SearchRequest
    positive: np.ndarray
    query: VectorQuery
    # The query's lexical terms, and CLIP's side alone (to tell which side
    # found a fused result); empty and None for a semantic query.
    terms: frozenset[int] = frozenset()
    semantic_side: VectorQuery | None = None


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
    # Where the user may see indexed videos, each query also ranks their
    # moments beside the images (in one ranking, so fused scores compare).
    videos = Video.objects.visible_to(user).filter(moments_indexed__gt=0).exists()
    prepared = [_prepare(user, encoder, r, vectors, videos=videos) for r in requests]
    store = get_store()
    collection = encoder.collection_name
    queries = [p.query for p in prepared]
    sides = [p.semantic_side for p in prepared if p.semantic_side is not None]
    with timed(SEARCH_STAGE_SECONDS, stage="vector_query"):
        answers = store.query_batch(collection, queries + sides)
    hit_lists, side_hits = answers[: len(queries)], iter(answers[len(queries) :])
    pages = []
    for item, hits in zip(prepared, hit_lists, strict=True):
        semantic = {hit.id for hit in next(side_hits)} if item.semantic_side is not None else None
        with timed(SEARCH_STAGE_SECONDS, stage="hydrate"):
            page = _page(user, item, hits, semantic)
        page.query_id = _query_id(user, collection, item.request, page)
        if item.request.facets:
            window = replace(
                item.query,
                limit=settings.SEARCH_FACET_WINDOW,
                offset=0,
                with_payload=True,
                fusion_window=max(item.query.fusion_window, settings.SEARCH_FACET_WINDOW),
            )
            page.facets = _facets(item, store.query(collection, window))
        pages.append(page)
    return pages


def similar_images(*, user: User, image: Image, limit: int = 10) -> SearchPage:
    """More like this: the nearest images to `image`, excluding itself."""
    return search(
        user=user, request=SearchRequest(image_id=image.id, limit=limit, exclude_ids=(image.id,))
    )


def similar_to_moment(*, user: User, video: Video, at: float, limit: int = 10) -> SearchPage:
    """More like this from a video: the images and other videos nearest to the moment on
    screen at `at` seconds. Raises `ApplicationError` (409) if the video has no moment yet."""
    moment = video.moment_at(at)
    encoder = search_encoder()
    stored = (
        get_store().retrieve_vectors(encoder.collection_name, [moment.point_id])
        if moment is not None
        else {}
    )
    if moment is None or moment.point_id not in stored:
        raise ApplicationError(
            "video_not_indexed",
            "This video has no indexed moments yet: search from it once it is indexed.",
            status=409,
        )
    return search(
        user=user,
        request=SearchRequest(
            image_vector=stored[moment.point_id],
            limit=limit,
            exclude_ids=tuple(video_point_ids(video)),
        ),
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
    user: User,
    encoder: ClipEncoder,
    request: SearchRequest,
    vectors: dict[str, np.ndarray],
    *,
    videos: bool = False,
) -> _Prepared:
    if not 1 <= request.limit <= settings.SEARCH_MAX_LIMIT:
        raise ApplicationError(
            "invalid_limit", f"limit must be between 1 and {settings.SEARCH_MAX_LIMIT}."
        )
    mode = _checked_mode(request)
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
    words = " ".join(t.text for t in request.texts) if mode != "semantic" else ""
    lexical = lexicon(settings.LEXICAL_LANGUAGE).query(words) if words else None
    viewer = str(user.pk)
    conditions: list[Any] = [access_filter(user), parse_filter(request.filters, viewer=viewer)]
    if mode != "semantic":
        conditions += [Phrase(TEXT_FIELD, phrase) for phrase in quoted_phrases(words)]
    # Moments have no words: a search by words alone never finds them.
    videos = videos and mode != "text"
    excluded: list[Any] = [] if videos else [Match(KIND_FIELD, POINT_KIND_VIDEO)]
    if request.exclude_ids:
        excluded.append(HasId(request.exclude_ids))
    if mode == "text":
        # Words alone: a negative is a word (or phrase) the image must not hold.
        excluded += [Phrase(TEXT_FIELD, n) for n in request.negative_texts]
    scope = Filter(must=tuple(c for c in conditions if c), must_not=tuple(excluded))
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
    dense = mode != "text"
    window = max(settings.SEARCH_FUSION_WINDOW, request.offset + request.limit + 1)
    query = VectorQuery(
        vector=None if recommend or not dense else vector,
        positives=(positive,) if recommend and dense else (),
        negatives=tuple(negatives) if recommend and dense else (),
        strategy=strategy if recommend else "best_score",
        # One extra result tells whether another page exists. With videos, the
        # store groups the hits (a video's moments are one result, an image is
        # its own group) and the page is cut here from the first group on.
        limit=request.offset + request.limit + 1 if videos else request.limit + 1,
        offset=0 if videos else request.offset,
        group_size=MOMENTS_PER_VIDEO if videos else 0,
        filter=scope,
        # A plain CLIP query is scored by cosine to the positive vector, and
        # the store can apply the threshold itself; otherwise _scored does.
        score_threshold=request.min_score if not negatives and lexical is None else None,
        # Any other query's hits are rescored by their vectors.
        with_vectors=bool(negatives) or lexical is not None,
        with_payload=videos,
        lexical=lexical,
        fusion_window=window,
    )
    semantic_side = None
    if dense and lexical is not None:
        semantic_side = replace(
            query,
            lexical=None,
            limit=window,
            offset=0,
            with_vectors=False,
            score_threshold=None,
            group_size=0,
        )
    terms = frozenset(lexical.indices) if lexical is not None else frozenset()
    return _Prepared(
        request=request, positive=positive, query=query, terms=terms, semantic_side=semantic_side
    )


def _checked_mode(request: SearchRequest) -> str:
    mode = request.resolved_mode
    if mode not in SEARCH_MODES:
        raise ApplicationError(
            "invalid_mode", f"mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}."
        )
    if mode == "text" and (request.image_id or request.image_vector is not None):
        raise ApplicationError(
            "invalid_mode",
            "mode text matches words only: search by an image in hybrid or semantic mode.",
        )
    if mode == "text" and request.negative_image_ids:
        raise ApplicationError(
            "invalid_mode",
            "mode text matches words only: steer away from images in hybrid or semantic mode.",
        )
    if mode == "text" and not request.texts:
        raise ApplicationError("empty_query", "mode text needs a query text.")
    return mode


def quoted_phrases(text: str) -> list[str]:
    """The phrases in double quotes in `text`, as they must appear (a lone word counts)."""
    return [" ".join(p.split()) for p in re.findall(r'"([^"]+)"', text) if p.strip()]


def _page(user: User, item: _Prepared, hits: list[Hit], semantic: set[UUID] | None) -> SearchPage:
    """A page of images and, where the query ranked moments too, videos (each once)."""
    request = item.request
    if not item.query.group_size:  # images alone: the store paged them
        more = len(hits) > request.limit
        results: list[SearchResult | VideoResult] = _image_results(
            user, item, hits[: request.limit], semantic
        )
        end = request.offset + request.limit
    else:
        moments = [h for h in hits if (h.payload or {}).get(KIND_FIELD) == POINT_KIND_VIDEO]
        shown = {h.id for h in moments}
        ranked = _image_results(user, item, [h for h in hits if h.id not in shown], semantic)
        ranked += _video_results(user, item, moments)
        # Stable: among equal scores, images keep the store's order, ahead of videos.
        ranked.sort(key=lambda result: -result.score)
        end = request.offset + request.limit
        more = len(ranked) > end
        results = ranked[request.offset : end]
    cursor = None
    if more:
        payload = {"o": end, "q": request.fingerprint()}
        cursor = signing.dumps(payload, salt=CURSOR_SALT, compress=True)
    return SearchPage(results=results, next_cursor=cursor)


def _query_id(user: User, collection: str, request: SearchRequest, page: SearchPage) -> str:
    """The page's query id: its results ranked from the page's offset (the first result
    of a query is rank 1, the first of its second page of 10 is 11)."""
    items = [
        (VIDEO, r.video.id) if isinstance(r, VideoResult) else (IMAGE, r.image.id)
        for r in page.results
    ]
    return query_id_dumps(
        user_id=user.pk,
        fingerprint=request.fingerprint(),
        collections=[collection],
        mode=request.resolved_mode,
        first_rank=request.offset + 1,
        items=items,
    )


def _image_results(
    user: User, item: _Prepared, hits: list[Hit], semantic: set[UUID] | None
) -> list[SearchResult | VideoResult]:
    scored = _scored(item, hits)
    rows = Image.objects.visible_to(user).order_by().in_bulk([hit_id for hit_id, *_ in scored])
    return [_result(item, rows[i], s, c, semantic) for i, s, c in scored if i in rows]


def _video_results(
    user: User, item: _Prepared, hits: list[Hit]
) -> list[SearchResult | VideoResult]:
    """Moments grouped by their video, best first: each video once, with its best moments."""
    payloads = {hit.id: hit.payload or {} for hit in hits}
    groups: dict[UUID, list[MomentHit]] = {}
    similarities: dict[UUID, float] = {}
    for point_id, score, similarity in _scored(item, hits):
        payload = payloads[point_id]
        video_id = UUID(str(payload.get(VIDEO_FIELD)))
        moments = groups.setdefault(video_id, [])
        if len(moments) < MOMENTS_PER_VIDEO:
            start, end = float(payload.get("start", 0.0)), float(payload.get("end", 0.0))
            moments.append(MomentHit(video_id, point_id, start, end, score))
            moments.sort(key=lambda m: -m.score)
        if len(moments) == 1:
            similarities[video_id] = similarity
    videos = Video.objects.visible_to(user).order_by().in_bulk(list(groups))
    return [
        VideoResult(
            video=videos[video_id],
            score=moments[0].score,
            similarity=similarities[video_id],
            moments=tuple(moments),
        )
        for video_id, moments in groups.items()
        if video_id in videos
    ]


def _result(
    item: _Prepared, image: Image, score: float, similarity: float, semantic: set[UUID] | None
) -> SearchResult:
    """A result with which side found it and, where its words did, a snippet of them."""
    if not item.terms:
        return SearchResult(image=image, score=score, similarity=similarity)
    words = lexicon(settings.LEXICAL_LANGUAGE)
    holds_words = bool(words.terms(image.lexical_document()) & item.terms)
    matched = []
    if item.query.dense and (semantic is None or image.id in semantic):
        matched.append("semantic")
    if holds_words:
        matched.append("text")
    snippet = _snippet(image, item.terms) if holds_words else None
    return SearchResult(
        image=image,
        score=score,
        similarity=similarity,
        matched=tuple(matched),
        snippet=snippet,
    )


SNIPPET_CONTEXT = 60


def _snippet(image: Image, terms: frozenset[int]) -> Snippet | None:
    """The recognised text or caption around its first matching word, with every match marked."""
    words = lexicon(settings.LEXICAL_LANGUAGE)
    for source, text in (("text", image.recognised_text), ("description", image.description)):
        text = " ".join(text.split())
        spans = words.matches(text, terms)
        if not spans:
            continue
        start = max(0, spans[0][0] - SNIPPET_CONTEXT)
        end = min(len(text), spans[0][1] + 2 * SNIPPET_CONTEXT)
        # Whole words at the edges: move in to the next space.
        if start > 0:
            start = text.find(" ", start) + 1 or start
        if end < len(text):
            end = text.rfind(" ", start, end) if text.rfind(" ", start, end) > spans[0][1] else end
        marked = tuple((s - start, e - start) for s, e in spans if s >= start and e <= end)
        return Snippet(source=source, text=text[start:end], highlights=marked)
    return None


def _scored(item: _Prepared, hits: list[Hit]) -> list[tuple[UUID, float, float]]:
    """(id, score, cosine to the positive vector), in the store's order, cosine >= `min_score`.

    A CLIP query's score is the cosine; a query with words is ranked by the
    store's fused (or BM25) score, which is what `score` then gives.
    """
    scored = []
    # A plain nearest query already scores by cosine to the positive vector;
    # keep the store's number so it agrees with the store's own threshold.
    plain = item.query.vector is not None and np.array_equal(item.query.vector, item.positive)
    for hit in hits:
        rescore = not (plain and item.query.lexical is None) and hit.vector is not None
        similarity = float(hit.vector @ item.positive) if rescore else hit.score
        if item.request.min_score is None or similarity >= item.request.min_score:
            score = hit.score if item.query.lexical is not None else similarity
            scored.append((hit.id, score, similarity))
    return scored


def _facets(item: _Prepared, hits: list[Hit]) -> dict[str, dict[str, int]]:
    """Counts per kind, format and tag over the query's result window (scores above
    min_score); a video counts once, however many of its moments are in the window."""
    kept = {hit_id for hit_id, *_ in _scored(item, hits)}
    formats: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    videos: set[str] = set()
    images = 0
    for hit in hits:
        if hit.id not in kept or not hit.payload:
            continue
        if hit.payload.get(KIND_FIELD) == POINT_KIND_VIDEO:
            videos.add(str(hit.payload.get(VIDEO_FIELD)))
            continue
        images += 1
        formats[str(hit.payload.get("format"))] += 1
        tags.update(str(t) for t in hit.payload.get("tags") or [])
    kinds = {kind: n for kind, n in (("image", images), ("video", len(videos))) if n}
    return {
        "kind": kinds,
        "format": dict(formats.most_common()),
        "tag": dict(tags.most_common(50)),
    }


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
