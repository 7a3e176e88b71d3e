"""Qdrant through qdrant-client: a server (`QDRANT_URL`) in production, local mode in tests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import numpy as np
from qdrant_client import QdrantClient, models

from vectorstore import filters as f
from vectorstore.base import (
    DENSE_VECTOR,
    GROUP_FIELD,
    LEXICAL_VECTOR,
    PAYLOAD_INDEXES,
    RRF_K,
    RRF_WEIGHTS,
    Hit,
    LexicalPoint,
    QueryShortcuts,
    SparseVector,
    VectorPoint,
    VectorQuery,
    VectorStoreUnavailable,
)
from vectorstore.grouping import query_grouped
from vectorstore.translate import (
    FilterModels,
    dense_vector,
    ids_filter,
    point_uuid,
    to_hit,
    to_qdrant_filter,
)
from vectorstore.tuning import GRAPH_LINKED, IndexTuning

CLIENT_FILTERS: FilterModels[models.Filter] = FilterModels(
    filter=models.Filter,
    field=models.FieldCondition,
    match_value=lambda value: models.MatchValue(value=value),
    match_any=lambda values: models.MatchAny(any=values),
    number_range=models.Range,
    datetime_range=models.DatetimeRange,
    has_id=lambda ids: models.HasIdCondition(has_id=[str(i) for i in ids]),
    match_phrase=lambda phrase: models.MatchPhrase(phrase=phrase),
    geo_radius=lambda lat, lon, meters: models.GeoRadius(
        center=models.GeoPoint(lat=lat, lon=lon), radius=meters
    ),
    geo_box=lambda north, west, south, east: models.GeoBoundingBox(
        top_left=models.GeoPoint(lat=north, lon=west),
        bottom_right=models.GeoPoint(lat=south, lon=east),
    ),
)

LEXICAL_PARAMS = models.SparseVectorParams(modifier=models.Modifier.IDF)


def payload_schema(key: str, kind: str) -> Any:
    """The index for a payload field (see `GRAPH_LINKED` for which get graph links)."""
    linked = key in GRAPH_LINKED
    if kind == "keyword":
        # The owner is the tenant: Qdrant co-locates each tenant's points.
        return models.KeywordIndexParams(
            type=models.KeywordIndexType.KEYWORD, is_tenant=key == "owner", enable_hnsw=linked
        )
    if kind == "integer":
        return models.IntegerIndexParams(
            type=models.IntegerIndexType.INTEGER, lookup=True, range=True, enable_hnsw=linked
        )
    if kind == "float":
        return models.FloatIndexParams(type=models.FloatIndexType.FLOAT, enable_hnsw=False)
    if kind == "geo":
        return models.GeoIndexParams(type=models.GeoIndexType.GEO, enable_hnsw=False)
    if kind == "text":
        return models.TextIndexParams(
            type=models.TextIndexType.TEXT,
            tokenizer=models.TokenizerType.WORD,
            lowercase=True,
            ascii_folding=True,
            phrase_matching=True,
            enable_hnsw=False,
        )
    return models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME, enable_hnsw=linked)


class QdrantClientStore(QueryShortcuts):
    """`VectorStore` through qdrant-client: one Qdrant collection per model.

    Give `url` (+ `api_key`) for a server, or `path` for qdrant-client's local
    mode. Every method raises `VectorStoreUnavailable` for any client,
    transport or server error. A server optimises its collections itself, so
    `maintenance()` is None.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        timeout: int = 10,
        tuning: IndexTuning | None = None,
    ) -> None:
        try:
            if path:
                self.client = QdrantClient(path=path)
            else:
                self.client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
        except Exception as exc:
            raise VectorStoreUnavailable(f"Cannot open Qdrant ({url or path}): {exc}") from exc
        self.tuning = tuning or IndexTuning()
        self._hnsw = models.HnswConfigDiff(
            m=self.tuning.hnsw_m,
            ef_construct=self.tuning.hnsw_ef_construct,
            full_scan_threshold=self.tuning.full_scan_threshold_kb,
            payload_m=self.tuning.payload_m,
        )
        self._quantization: Any = None
        quantization_params = None
        if self.tuning.quantized:
            self._quantization = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, quantile=0.99, always_ram=True
                )
            )
            quantization_params = models.QuantizationSearchParams(
                rescore=True, oversampling=self.tuning.oversampling
            )
        self._search_params = models.SearchParams(
            hnsw_ef=self.tuning.search_ef, quantization=quantization_params
        )
        self._acorn_search_params = models.SearchParams(
            hnsw_ef=self.tuning.search_ef,
            quantization=quantization_params,
            acorn=models.AcornSearchParams(
                enable=True, max_selectivity=self.tuning.acorn_max_selectivity
            ),
        )
        self._known: set[str] = set()
        self._grouped: set[str] = set()

    def ensure_collection(self, name: str, dim: int) -> None:
        if name in self._known:
            return
        with _unavailable(), warnings.catch_warnings():
            # Local mode warns that it ignores payload indexes; a server uses them.
            warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
            if self.client.collection_exists(name):
                self._upgrade(name)
            else:
                self.client.create_collection(
                    name,
                    vectors_config=models.VectorParams(
                        size=dim, distance=models.Distance.COSINE, on_disk=self.tuning.quantized
                    ),
                    sparse_vectors_config={LEXICAL_VECTOR: LEXICAL_PARAMS},
                    hnsw_config=self._hnsw,
                    quantization_config=self._quantization,
                    optimizers_config=models.OptimizersConfigDiff(
                        max_segment_size=self.tuning.max_segment_kb
                    ),
                )
                for key, kind in PAYLOAD_INDEXES.items():
                    self.client.create_payload_index(
                        name, key, field_schema=payload_schema(key, kind)
                    )
        self._known.add(name)

    def _upgrade(self, name: str) -> None:
        """Give a collection made by an earlier release the lexical vector and the
        payload indexes it lacks."""
        info = self.client.get_collection(name)
        if LEXICAL_VECTOR not in (info.config.params.sparse_vectors or {}):
            self.client.create_vector_name(
                name,
                LEXICAL_VECTOR,
                models.SparseVectorNameConfig(
                    sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)
                ),
            )
        for key, kind in PAYLOAD_INDEXES.items():
            if key not in (info.payload_schema or {}):
                self.client.create_payload_index(name, key, field_schema=payload_schema(key, kind))

    def collections(self) -> list[str]:
        with _unavailable():
            return sorted(c.name for c in self.client.get_collections().collections)

    def _exists(self, name: str) -> bool:
        if name in self._known:
            return True
        with _unavailable():
            return self.client.collection_exists(name)

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        self.ensure_collection(collection, len(points[0].vector))
        with _unavailable():
            self.client.upsert(
                collection,
                points=[
                    models.PointStruct(id=str(p.id), vector=_vectors(p), payload=p.payload)
                    for p in points
                ],
                wait=True,
            )

    def query(self, collection: str, query: VectorQuery) -> list[Hit]:
        return self.query_batch(collection, [query])[0]

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[Hit]]:
        if not queries or not self._exists(collection):
            return [[] for _ in queries]
        if any(q.group_size for q in queries):
            return self._query_grouped(collection, queries)
        requests = [self._request(q) for q in queries]
        with _unavailable():
            responses = self.client.query_batch_points(collection, requests=requests)
        return [[to_hit(p) for p in response.points] for response in responses]

    def _query_grouped(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[Hit]]:
        """Qdrant's grouping (one request per grouped query: it has no batch of them), once
        every point of the collection has its group; until then, grouped as the embedded
        engine groups, since the server leaves out a point without the field."""
        if not self._all_grouped(collection):
            return query_grouped(lambda plain: self.query_batch(collection, plain), queries)
        plain = [i for i, q in enumerate(queries) if not q.group_size]
        answers: list[list[Hit]] = [[] for _ in queries]
        if plain:
            found = self.query_batch(collection, [queries[i] for i in plain])
            for i, hits in zip(plain, found, strict=True):
                answers[i] = hits
        for i, query in enumerate(queries):
            if not query.group_size:
                continue
            request = self._request(query)
            with _unavailable():
                result = self.client.query_points_groups(
                    collection,
                    group_by=GROUP_FIELD,
                    group_size=query.group_size,
                    limit=query.limit,
                    query=request.query,
                    using=request.using,
                    prefetch=request.prefetch,
                    query_filter=request.filter,
                    search_params=request.params,
                    score_threshold=request.score_threshold,
                    with_payload=True,
                    with_vectors=query.with_vectors,
                )
            answers[i] = [to_hit(p) for group in result.groups for p in group.hits]
        return answers

    def _all_grouped(self, collection: str) -> bool:
        """Whether every point carries `GROUP_FIELD` (points written before it existed do
        not); once true it stays so, as every point is written with it."""
        if collection in self._grouped:
            return True
        ungrouped = models.Filter(
            must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=GROUP_FIELD))]
        )
        with _unavailable():
            missing = self.client.count(collection, count_filter=ungrouped, exact=True).count
        if missing == 0:
            self._grouped.add(collection)
        return missing == 0

    def _request(self, query: VectorQuery) -> models.QueryRequest:
        flt = to_qdrant_filter(query.filter, CLIENT_FILTERS)
        params = (
            self._acorn_search_params
            if self.tuning.acorn_for(query.filter)
            else self._search_params
        )
        sides: list[tuple[Any, str | None]] = []
        if query.dense:
            sides.append((_dense_scoring(query), None))
        if query.lexical is not None:
            sides.append((_sparse(query.lexical), LEXICAL_VECTOR))
        scoring, using = sides[0]
        prefetch = None
        if len(sides) == 2:
            # The filter goes into each side: a fused query's own filter would
            # only narrow what the sides already chose.
            prefetch = [
                models.Prefetch(
                    query=side, using=name, filter=flt, params=params, limit=query.fusion_window
                )
                for side, name in sides
            ]
            scoring, using = (
                models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=list(RRF_WEIGHTS))),
                None,
            )
        return models.QueryRequest(
            query=scoring,
            using=using,
            prefetch=prefetch,
            filter=flt,
            limit=query.limit,
            offset=query.offset,
            score_threshold=query.score_threshold,
            params=params,
            with_payload=query.with_payload,
            with_vector=query.with_vectors,
        )

    def retrieve_vectors(self, collection: str, ids: Sequence[UUID]) -> dict[UUID, np.ndarray]:
        if not ids or not self._exists(collection):
            return {}
        with _unavailable():
            records = self.client.retrieve(
                collection, ids=[str(i) for i in ids], with_vectors=True, with_payload=False
            )
        vectors = {point_uuid(r.id): dense_vector(r.vector) for r in records}
        return {i: np.asarray(v, dtype=np.float32) for i, v in vectors.items() if v is not None}

    def count(self, collection: str, filter: f.Filter | None = None) -> int:
        if not self._exists(collection):
            return 0
        with _unavailable():
            result = self.client.count(
                collection, count_filter=to_qdrant_filter(filter, CLIENT_FILTERS), exact=True
            )
        return int(result.count)

    def set_payload(self, ids: Sequence[UUID], payload: dict[str, Any]) -> None:
        """Set `payload`'s keys on the points `ids` in every collection that holds them.

        The points are selected by a filter: given as a list of ids, a server
        answers 404 and local mode raises KeyError for an id the collection
        lacks, and a new model's collection lacks most ids until its reindex ends.
        """
        if not ids:
            return
        selected = ids_filter(ids, CLIENT_FILTERS)
        for name in self.collections():
            with _unavailable():
                self.client.set_payload(name, payload=payload, points=selected)

    def set_lexical(self, points: Sequence[LexicalPoint]) -> None:
        """Replace the lexical side of `points` in every collection that holds them.

        Updating a vector raises for an id the collection lacks (404 from a
        server), so each collection is asked which of them it holds.
        """
        if not points:
            return
        for name in self.collections():
            with _unavailable():
                records = self.client.retrieve(
                    name, ids=[str(p.id) for p in points], with_payload=False, with_vectors=False
                )
                held = {point_uuid(r.id) for r in records}
                mine = [p for p in points if p.id in held]
                if not mine:
                    continue
                self.client.update_vectors(
                    name,
                    points=[
                        models.PointVectors(
                            id=str(p.id), vector={LEXICAL_VECTOR: _sparse(p.lexical)}
                        )
                        for p in mine
                    ],
                )
                for point in mine:
                    if point.payload:
                        self.client.set_payload(name, payload=point.payload, points=[str(point.id)])

    def delete(self, ids: Sequence[UUID]) -> None:
        """Delete the points `ids` from every collection that holds them.

        By id, unlike `set_payload`: a server and local mode (since
        qdrant-client 1.14.1) skip the ids a collection lacks.
        """
        if not ids:
            return
        for name in self.collections():
            with _unavailable():
                self.client.delete(
                    name, points_selector=models.PointIdsList(points=[str(i) for i in ids])
                )

    def iter_ids(
        self, collection: str, batch: int = 1000, *, start: UUID | None = None
    ) -> Iterator[UUID]:
        if not self._exists(collection):
            return
        # A scroll's offset need not be a point id: it starts at the first id not below it.
        offset: Any = None if start is None else str(start)
        while True:
            with _unavailable():
                records, offset = self.client.scroll(
                    collection, limit=batch, offset=offset, with_payload=False, with_vectors=False
                )
            yield from (point_uuid(r.id) for r in records)
            if offset is None:
                return

    def ping(self) -> None:
        self.collections()

    def maintenance(self) -> None:
        """None: a server's optimizer builds the graphs (local mode has none; it scans)."""

    def close(self) -> None:
        self.client.close()


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _vectors(point: VectorPoint) -> dict[str, Any]:
    vectors: dict[str, Any] = {DENSE_VECTOR: point.vector.tolist()}
    if point.lexical:
        vectors[LEXICAL_VECTOR] = _sparse(point.lexical)
    return vectors


def _dense_scoring(query: VectorQuery) -> Any:
    if query.vector is not None:
        return query.vector.tolist()
    strategy = (
        models.RecommendStrategy.SUM_SCORES
        if query.strategy == "sum_scores"
        else models.RecommendStrategy.BEST_SCORE
    )
    return models.RecommendQuery(
        recommend=models.RecommendInput(
            positive=[v.tolist() for v in query.positives],
            negative=[v.tolist() for v in query.negatives],
            strategy=strategy,
        )
    )


class _unavailable:
    """Map any client, transport or server error to `VectorStoreUnavailable`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if (
            exc is not None
            and isinstance(exc, Exception)
            and not isinstance(exc, VectorStoreUnavailable)
        ):
            raise VectorStoreUnavailable(f"Qdrant error: {exc}") from exc
