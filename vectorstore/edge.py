"""The embedded default: Qdrant's own engine in process (qdrant-edge-py), one shard per collection.

This module translates the `VectorStore` contract to the engine's requests
and operations. The shards on disk are `vectorstore.shards`, and their
background graph builds `vectorstore.graphs` (`EdgeStore.maintenance()`).

Facts about qdrant-edge-py 0.9 that shape this adapter:
- one process may open a shard directory (its write-ahead log is locked);
- `optimize()` (the HNSW build) holds the GIL for its whole run, so the
  serving process never calls it (see `vectorstore.graphs`);
- setting the payload of a point id the shard does not hold raises ("No point
  with id"), as qdrant-client's local mode and a Qdrant server do; deleting one
  does not;
- a filter on a payload index without filter-aware graph links can silently
  drop matches from an HNSW search, which exact search never does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import qdrant_edge as qe

from vectorstore import filters as f
from vectorstore.base import (
    DENSE_VECTOR,
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
from vectorstore.graphs import GraphBuilds
from vectorstore.grouping import query_grouped
from vectorstore.shards import ShardSet, call
from vectorstore.translate import (
    FilterModels,
    dense_vector,
    ids_filter,
    point_uuid,
    rfc3339_or_none,
    to_hit,
    to_qdrant_filter,
)
from vectorstore.tuning import GRAPH_LINKED, IndexTuning


def _datetime_range(
    *,
    gte: datetime | None = None,
    gt: datetime | None = None,
    lte: datetime | None = None,
    lt: datetime | None = None,
) -> qe.RangeDateTime:
    # The engine takes RFC 3339 strings, not datetimes.
    return qe.RangeDateTime(
        gte=rfc3339_or_none(gte),
        gt=rfc3339_or_none(gt),
        lte=rfc3339_or_none(lte),
        lt=rfc3339_or_none(lt),
    )


EDGE_FILTERS: FilterModels[qe.Filter] = FilterModels(
    filter=qe.Filter,
    field=qe.FieldCondition,
    match_value=qe.MatchValue,
    match_any=qe.MatchAny,
    number_range=qe.RangeFloat,
    datetime_range=_datetime_range,
    has_id=lambda ids: qe.HasIdCondition(set(ids)),
    match_phrase=qe.MatchPhrase,
    geo_radius=lambda lat, lon, meters: qe.GeoRadius(qe.GeoPoint(lon=lon, lat=lat), meters),
    geo_box=lambda north, west, south, east: qe.GeoBoundingBox(
        qe.GeoPoint(lon=west, lat=north), qe.GeoPoint(lon=east, lat=south)
    ),
)


class EdgeStore(QueryShortcuts):
    """`VectorStore` on qdrant-edge-py: a shard per collection under `path/<collection>/`.

    Exact search unless `exact=False`. With `background_build_min` > 0, graphs
    are built in the background once that many points wait (`GraphBuilds`).
    Thread-safe; one process may open `path`. Every method raises
    `VectorStoreUnavailable` when another process holds the directory or the
    engine fails. Opening recovers a graph swap that a crash cut off.
    """

    def __init__(
        self,
        path: str,
        *,
        exact: bool = True,
        tuning: IndexTuning | None = None,
        indexing_threshold_kb: int = 20_000,
        background_build_min: int = 0,
    ) -> None:
        self.path = Path(path)
        self.exact = exact
        self.tuning = tuning or IndexTuning()
        self._hnsw = qe.HnswIndexConfig(
            m=self.tuning.hnsw_m,
            ef_construct=self.tuning.hnsw_ef_construct,
            full_scan_threshold=self.tuning.full_scan_threshold_kb,
            payload_m=self.tuning.payload_m,
        )
        self._optimizers = qe.EdgeOptimizersConfig(
            indexing_threshold=indexing_threshold_kb,
            max_segment_size=self.tuning.max_segment_kb,
        )
        self._shards = ShardSet(self.path, self._create, upgrade=self._upgrade)
        self._graphs = GraphBuilds(self._shards, background_build_min=background_build_min)

    # -- collections -------------------------------------------------------

    def ensure_collection(self, name: str, dim: int) -> None:
        self._shards.get(name, dim=dim)

    def collections(self) -> list[str]:
        return self._shards.names()

    def _create(self, directory: Path, dim: int) -> qe.EdgeShard:
        shard = qe.EdgeShard.create(str(directory), self._config(dim))
        for key, kind in PAYLOAD_INDEXES.items():
            shard.update(qe.UpdateOperation.create_field_index(key, self._schema(key, kind)))
        return shard

    def _upgrade(self, shard: qe.EdgeShard) -> None:
        """Give a shard made by an earlier release what this one adds: the lexical
        vector and the payload indexes it lacks (both operations are idempotent)."""
        shard.update(qe.UpdateOperation.create_sparse_vector(LEXICAL_VECTOR, qe.Modifier.Idf))
        indexed = set(shard.info().payload_schema)
        for key, kind in PAYLOAD_INDEXES.items():
            if key not in indexed:
                shard.update(qe.UpdateOperation.create_field_index(key, self._schema(key, kind)))

    def _config(self, dim: int) -> qe.EdgeConfig:
        quantization = None
        if self.tuning.quantized:
            quantization = qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=0.99, always_ram=True
            )
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=dim, distance=qe.Distance.Cosine, on_disk=self.tuning.quantized
            ),
            sparse_vectors={LEXICAL_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=self._hnsw,
            quantization_config=quantization,
            optimizers=self._optimizers,
        )

    @staticmethod
    def _schema(key: str, kind: str) -> Any:
        linked = key in GRAPH_LINKED
        if kind == "keyword":
            # The owner is the tenant: its points are stored and linked together.
            return qe.KeywordIndexParams(is_tenant=key == "owner", enable_hnsw=linked)
        if kind == "integer":
            return qe.IntegerIndexParams(lookup=True, range=True, enable_hnsw=linked)
        if kind == "float":
            return qe.FloatIndexParams(enable_hnsw=False)
        if kind == "geo":
            return qe.GeoIndexParams(enable_hnsw=False)
        if kind == "text":
            return qe.TextIndexParams(
                tokenizer=qe.TokenizerType.Word,
                lowercase=True,
                ascii_folding=True,
                phrase_matching=True,
                enable_hnsw=False,
            )
        return qe.DatetimeIndexParams(enable_hnsw=linked)

    def _search_params(self, flt: f.Filter | None) -> qe.SearchParams:
        return qe.SearchParams(
            hnsw_ef=self.tuning.search_ef,
            exact=self.exact,
            quantization=(
                qe.QuantizationSearchParams(rescore=True, oversampling=self.tuning.oversampling)
                if self.tuning.quantized
                else None
            ),
            acorn=(
                qe.AcornSearchParams(enable=True, max_selectivity=self.tuning.acorn_max_selectivity)
                if self.tuning.acorn_for(flt)
                else None
            ),
        )

    # -- points ------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        if self._shards.get(collection, dim=len(points[0].vector)) is None:  # pragma: no cover
            raise VectorStoreUnavailable(f"Cannot create collection {collection}")
        op = qe.UpdateOperation.upsert_points(
            [qe.Point(p.id, _vectors(p), p.payload) for p in points]
        )
        self._shards.write(collection, op)
        self._graphs.maybe_build(collection)

    def query(self, collection: str, query: VectorQuery) -> list[Hit]:
        return self.query_batch(collection, [query])[0]

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[Hit]]:
        if any(q.group_size for q in queries):
            # The engine has no grouping: grouped queries read a window and group it.
            return query_grouped(lambda plain: self.query_batch(collection, plain), queries)
        if not queries or self._shards.get(collection) is None:
            return [[] for _ in queries]
        self._graphs.before_search(collection)
        requests = [self._request(q) for q in queries]
        with self._shards.reading(collection) as shard:
            if shard is None:  # pragma: no cover  (opened above; a swap only replaces it)
                return [[] for _ in queries]
            if len(requests) == 1:
                results = [call(shard.query, requests[0])]
            else:
                results = call(shard.query_batch, qe.QueryBatchRequest(requests))
        return [[to_hit(p) for p in points] for points in results]

    def _request(self, query: VectorQuery) -> qe.QueryRequest:
        flt = to_qdrant_filter(query.filter, EDGE_FILTERS)
        params = self._search_params(query.filter)
        sides: list[Any] = []
        if query.dense:
            sides.append(_dense_scoring(query))
        if query.lexical is not None:
            sides.append(qe.Query.Nearest(_sparse(query.lexical), using=LEXICAL_VECTOR))
        prefetches = None
        scoring = sides[0]
        if len(sides) == 2:
            # The filter goes into each side: a fused query's own filter would
            # only narrow what the sides already chose.
            prefetches = [
                qe.Prefetch(query.fusion_window, query=side, params=params, filter=flt)
                for side in sides
            ]
            scoring = qe.Fusion.Rrf(k=RRF_K, weights=list(RRF_WEIGHTS))
        return qe.QueryRequest(
            limit=query.limit,
            offset=query.offset,
            query=scoring,
            prefetches=prefetches,
            filter=flt,
            score_threshold=query.score_threshold,
            params=params,
            with_payload=query.with_payload,
            with_vector=query.with_vectors,
        )

    def retrieve_vectors(self, collection: str, ids: Sequence[UUID]) -> dict[UUID, np.ndarray]:
        if not ids:
            return {}
        with self._shards.reading(collection) as shard:
            if shard is None:
                return {}
            records = call(shard.retrieve, list(ids), False, True)
        vectors = {point_uuid(r.id): dense_vector(r.vector) for r in records}
        return {i: np.asarray(v, dtype=np.float32) for i, v in vectors.items() if v is not None}

    def count(self, collection: str, filter: f.Filter | None = None) -> int:
        request = qe.CountRequest(filter=to_qdrant_filter(filter, EDGE_FILTERS), exact=True)
        with self._shards.reading(collection) as shard:
            return int(call(shard.count, request)) if shard is not None else 0

    def set_payload(self, ids: Sequence[UUID], payload: dict[str, Any]) -> None:
        """Set `payload`'s keys on the points `ids` in every collection that holds them.

        The points are selected by a filter: by id, the engine raises for an id
        the shard lacks, and a new model's collection lacks most ids until its
        reindex ends.
        """
        if not ids:
            return
        op = qe.UpdateOperation.set_payload_by_filter(ids_filter(ids, EDGE_FILTERS), payload)
        for name in self._shards.names():
            self._shards.write(name, op)

    def set_lexical(self, points: Sequence[LexicalPoint]) -> None:
        """Replace the lexical side of `points` in every collection that holds them.

        Updating a vector, unlike setting a payload by filter, raises for an id
        the shard lacks, so each collection is asked which of them it holds.
        """
        if not points:
            return
        for name in self._shards.names():
            with self._shards.reading(name) as shard:
                if shard is None:  # pragma: no cover  (listed on disk)
                    continue
                held = {
                    point_uuid(r.id)
                    for r in call(shard.retrieve, [p.id for p in points], False, False)
                }
            mine = [p for p in points if p.id in held]
            if not mine:
                continue
            self._shards.write(
                name,
                qe.UpdateOperation.update_vectors(
                    [qe.PointVectors(p.id, {LEXICAL_VECTOR: _sparse(p.lexical)}) for p in mine]
                ),
            )
            for point in mine:
                if point.payload:
                    self._shards.write(
                        name, qe.UpdateOperation.set_payload([point.id], point.payload)
                    )

    def delete(self, ids: Sequence[UUID]) -> None:
        """Delete the points `ids` from every collection; ids a collection lacks are skipped."""
        if not ids:
            return
        for name in self._shards.names():
            self._shards.write(name, qe.UpdateOperation.delete_points(list(ids)))

    def iter_ids(
        self, collection: str, batch: int = 1000, *, start: UUID | None = None
    ) -> Iterator[UUID]:
        # A scroll's offset need not be a point id: it starts at the first id not below it.
        offset: int | UUID | str | None = None if start is None else str(start)
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=batch, with_payload=False, with_vector=False
            )
            with self._shards.reading(collection) as shard:
                if shard is None:
                    return
                records, offset = call(shard.scroll, request)
            yield from (point_uuid(r.id) for r in records)
            if offset is None:
                return

    # -- the store ---------------------------------------------------------

    def maintenance(self) -> GraphBuilds:
        """The graph builds: the engine has no optimizer running of its own."""
        return self._graphs

    def ping(self) -> None:
        for name in self._shards.names():
            self._shards.get(name)

    def close(self) -> None:
        """Wait for running graph builds, then close every shard (later calls reopen them)."""
        with self._graphs.stopped():
            self._shards.close()


def _floats(vector: np.ndarray) -> list[float]:
    return [float(x) for x in vector]


def _sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def _vectors(point: VectorPoint) -> dict[str, Any]:
    vectors: dict[str, Any] = {DENSE_VECTOR: _floats(point.vector)}
    if point.lexical:
        vectors[LEXICAL_VECTOR] = _sparse(point.lexical)
    return vectors


def _dense_scoring(query: VectorQuery) -> Any:
    if query.vector is not None:
        return qe.Query.Nearest(_floats(query.vector))
    recommend = qe.RecommendQuery(
        [_floats(v) for v in query.positives], [_floats(v) for v in query.negatives]
    )
    if query.strategy == "sum_scores":
        return qe.Query.RecommendSumScores(recommend)
    return qe.Query.RecommendBestScore(recommend)
