"""Qdrant through qdrant-client: a server (`QDRANT_URL`) in production, local mode in tests."""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

import grpc
import httpx
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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
    VectorStoreTimeout,
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

# Read consistency by name (VECTOR_READ_CONSISTENCY); a number asks that many replicas.
READ_CONSISTENCIES = {t.value: t for t in models.ReadConsistencyType}
# gRPC codes worth another try: the node is restarting or moving a shard, or it
# failed inside (a 5xx), or the deadline passed.
_GRPC_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}

T = TypeVar("T")


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
        shards: int | None = None,
        replicas: int | None = None,
        write_consistency: int | None = None,
        read_consistency: int | str | None = None,
        search_timeout: int | None = None,
        retries: int = 2,
        retry_backoff: float = 0.2,
        prefer_grpc: bool = False,
        grpc_port: int = 6334,
        search_alias: str | None = None,
    ) -> None:
        """Open the client (it connects lazily: nothing is sent yet).

        `shards`, `replicas` and `write_consistency` go to `create_collection`
        (None: Qdrant's defaults); `read_consistency` ("majority", "quorum",
        "all" or a number of replicas) to every read. `timeout` bounds each
        request and `search_timeout` (default `timeout`) each search. A
        transient failure (no connection, a timeout, a 5xx) is tried again up
        to `retries` times, `retry_backoff` seconds doubling between tries,
        except a search that timed out, which raises `VectorStoreTimeout` at
        once. `search_alias` names the alias a model switch flips
        (`search_alias()`); None: search follows the database alone.
        """
        self.shards = shards
        self.replicas = replicas
        self.write_consistency = write_consistency
        self.consistency: Any = (
            READ_CONSISTENCIES[read_consistency]
            if isinstance(read_consistency, str)
            else read_consistency
        )
        self.timeout = timeout
        self.search_timeout = search_timeout or timeout
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.alias_name = search_alias
        try:
            if path:
                self.client = QdrantClient(path=path)
            else:
                self.client = QdrantClient(
                    url=url,
                    api_key=api_key,
                    timeout=timeout,
                    prefer_grpc=prefer_grpc,
                    grpc_port=grpc_port,
                )
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
        with warnings.catch_warnings():
            # Local mode warns that it ignores payload indexes; a server uses them.
            warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
            if self._call(self.client.collection_exists, name):
                self._upgrade(name)
            else:
                # The shard count is fixed once the collection exists: it is
                # the cluster's unit of growth (one shard per node at most).
                self._call(
                    self.client.create_collection,
                    name,
                    shard_number=self.shards,
                    replication_factor=self.replicas,
                    write_consistency_factor=self.write_consistency,
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
                    self._call(
                        self.client.create_payload_index,
                        name,
                        key,
                        field_schema=payload_schema(key, kind),
                    )
        self._known.add(name)

    def _upgrade(self, name: str) -> None:
        """Give a collection made by an earlier release the lexical vector and the
        payload indexes it lacks."""
        info = self._call(self.client.get_collection, name)
        if LEXICAL_VECTOR not in (info.config.params.sparse_vectors or {}):
            self._call(
                self.client.create_vector_name,
                name,
                LEXICAL_VECTOR,
                models.SparseVectorNameConfig(
                    sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)
                ),
            )
        for key, kind in PAYLOAD_INDEXES.items():
            if key not in (info.payload_schema or {}):
                self._call(
                    self.client.create_payload_index,
                    name,
                    key,
                    field_schema=payload_schema(key, kind),
                )

    def collections(self) -> list[str]:
        return sorted(c.name for c in self._call(self.client.get_collections).collections)

    def _exists(self, name: str) -> bool:
        if name in self._known:
            return True
        return bool(self._call(self.client.collection_exists, name))

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        self.ensure_collection(collection, len(points[0].vector))
        # Qdrant's default (weak) ordering: strong ordering would funnel every
        # write of a shard through its one leader, and upserts are nearly all
        # of the writes (a bulk import, a reindex). An upsert is keyed by id
        # and carries the payload read from the database as it was indexed, so
        # running it again restores the point; the writes that change who may
        # see a point that already exists (`set_payload`, `set_lexical`,
        # `delete`) are the strongly ordered ones.
        self._call(
            self.client.upsert,
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
        responses = self._call(
            self.client.query_batch_points,
            collection,
            requests=requests,
            consistency=self.consistency,
            timeout=self.search_timeout,
            search=True,
        )
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
            result = self._call(
                self.client.query_points_groups,
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
                consistency=self.consistency,
                timeout=self.search_timeout,
                search=True,
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
        missing = self._call(
            self.client.count,
            collection,
            count_filter=ungrouped,
            exact=True,
            timeout=self.search_timeout,
        ).count
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
        records = self._call(
            self.client.retrieve,
            collection,
            ids=[str(i) for i in ids],
            with_vectors=True,
            with_payload=False,
            consistency=self.consistency,
            timeout=self.search_timeout,
        )
        vectors = {point_uuid(r.id): dense_vector(r.vector) for r in records}
        return {i: np.asarray(v, dtype=np.float32) for i, v in vectors.items() if v is not None}

    def count(self, collection: str, filter: f.Filter | None = None) -> int:
        if not self._exists(collection):
            return 0
        result = self._call(
            self.client.count,
            collection,
            count_filter=to_qdrant_filter(filter, CLIENT_FILTERS),
            exact=True,
        )
        return int(result.count)

    def set_payload(self, ids: Sequence[UUID], payload: dict[str, Any]) -> None:
        """Set `payload`'s keys on the points `ids` in every collection that holds them.

        The points are selected by a filter: given as a list of ids, a server
        answers 404 and local mode raises KeyError for an id the collection
        lacks, and a new model's collection lacks most ids until its reindex ends.
        Strongly ordered and waited for: visibility and `hidden` decide who may
        see a point, and replicas must not apply two changes in different orders.
        """
        if not ids:
            return
        selected = ids_filter(ids, CLIENT_FILTERS)
        for name in self.collections():
            self._call(
                self.client.set_payload,
                name,
                payload=payload,
                points=selected,
                wait=True,
                ordering=models.WriteOrdering.STRONG,
            )

    def set_lexical(self, points: Sequence[LexicalPoint]) -> None:
        """Replace the lexical side of `points` in every collection that holds them.

        Updating a vector raises for an id the collection lacks (404 from a
        server), so each collection is asked which of them it holds. Strongly
        ordered, as `set_payload`: the text and its vector decide which
        searches find a point, and they are written beside its access fields.
        """
        if not points:
            return
        for name in self.collections():
            records = self._call(
                self.client.retrieve,
                name,
                ids=[str(p.id) for p in points],
                with_payload=False,
                with_vectors=False,
                consistency=self.consistency,
            )
            held = {point_uuid(r.id) for r in records}
            mine = [p for p in points if p.id in held]
            if not mine:
                continue
            self._call(
                self.client.update_vectors,
                name,
                points=[
                    models.PointVectors(id=str(p.id), vector={LEXICAL_VECTOR: _sparse(p.lexical)})
                    for p in mine
                ],
                wait=True,
                ordering=models.WriteOrdering.STRONG,
            )
            for point in mine:
                if point.payload:
                    self._call(
                        self.client.set_payload,
                        name,
                        payload=point.payload,
                        points=[str(point.id)],
                        wait=True,
                        ordering=models.WriteOrdering.STRONG,
                    )

    def delete(self, ids: Sequence[UUID]) -> None:
        """Delete the points `ids` from every collection that holds them.

        By id, unlike `set_payload`: a server and local mode (since
        qdrant-client 1.14.1) skip the ids a collection lacks. Strongly ordered
        and waited for, as `set_payload`: a replica must not keep showing a
        deleted image, nor apply a late visibility change after the delete.
        """
        if not ids:
            return
        for name in self.collections():
            self._call(
                self.client.delete,
                name,
                points_selector=models.PointIdsList(points=[str(i) for i in ids]),
                wait=True,
                ordering=models.WriteOrdering.STRONG,
            )

    def iter_ids(
        self, collection: str, batch: int = 1000, *, start: UUID | None = None
    ) -> Iterator[UUID]:
        if not self._exists(collection):
            return
        # A scroll's offset need not be a point id: it starts at the first id not below it.
        offset: Any = None if start is None else str(start)
        while True:
            records, offset = self._call(
                self.client.scroll,
                collection,
                limit=batch,
                offset=offset,
                with_payload=False,
                with_vectors=False,
                consistency=self.consistency,
            )
            yield from (point_uuid(r.id) for r in records)
            if offset is None:
                return

    def ping(self) -> None:
        self.collections()

    def search_alias(self) -> QdrantClientStore | None:
        """This store, where a model switch flips its alias (`search_alias` given); else None."""
        return self if self.alias_name else None

    def search_collection(self) -> str | None:
        """The collection the search alias names, or None before the first switch."""
        aliases = self._call(self.client.get_aliases).aliases
        return next((a.collection_name for a in aliases if a.alias_name == self.alias_name), None)

    def activate(self, collection: str) -> None:
        """Point the search alias at `collection`, in one request: every reader that
        resolves the alias from then on reads `collection`, none reads a mix.

        Idempotent. Raises `VectorStoreUnavailable` (and leaves the alias as it
        was) if `collection` does not exist.
        """
        if self.alias_name is None:
            raise ValueError("this store has no search alias")
        alias = self.alias_name
        operations: list[Any] = []
        if self.search_collection() is not None:
            # A server refuses to create an alias that exists; deleting it in the
            # same request makes the switch atomic.
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        )
        self._call(self.client.update_collection_aliases, change_aliases_operations=operations)

    def maintenance(self) -> None:
        """None: a server's optimizer builds the graphs (local mode has none; it scans)."""

    def close(self) -> None:
        self.client.close()

    def _call(self, method: Callable[..., T], *args: Any, search: bool = False, **kwargs: Any) -> T:
        """`method(*args, **kwargs)` with the retry policy; any failure it ends with is
        `VectorStoreUnavailable` (`VectorStoreTimeout` for a timeout).

        Every call the adapter makes may run twice: writes are keyed by point
        id (upserts, payload and vector updates, deletes by id) and the alias
        switch sets an end state, so another try of one that did land is
        harmless. A search (`search=True`) that timed out is not tried again:
        it has used up the time a user waits.
        """
        attempt = 0
        while True:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                failure = _failure(exc)
                final = failure is None or attempt >= self.retries
                if failure == "timeout" and (final or search):
                    raise VectorStoreTimeout(f"Qdrant did not answer in time: {exc}") from exc
                if final:
                    raise VectorStoreUnavailable(f"Qdrant error: {exc}") from exc
            # Exponential backoff with jitter, so that the workers a node restart
            # cut off do not all come back in the same instant.
            time.sleep(self.retry_backoff * 2**attempt * random.uniform(0.5, 1.0))
            attempt += 1


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


def _failure(exc: Exception) -> str | None:
    """ "timeout" or "transient" for a failure worth another try, None for one that is not.

    qdrant-client wraps every transport error (no connection, a read timeout)
    in `ResponseHandlingException`, and a server's refusal in
    `UnexpectedResponse` with its status: a 5xx may pass (a node restarting, a
    shard moving), a 4xx will not. Local mode raises plain errors: none passes.
    """
    if isinstance(exc, ResponseHandlingException):
        exc = exc.source if isinstance(exc.source, Exception) else exc
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, httpx.TransportError | ConnectionError | ResponseHandlingException):
        return "transient"
    if isinstance(exc, UnexpectedResponse) and exc.status_code is not None:
        if exc.status_code in (408, 504):
            return "timeout"
        return "transient" if exc.status_code >= 500 else None
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return "timeout"
        return "transient" if code in _GRPC_TRANSIENT else None
    return None
