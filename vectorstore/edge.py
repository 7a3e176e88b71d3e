"""The embedded default: Qdrant's own engine in process (qdrant-edge-py), one shard per collection.

Facts about qdrant-edge-py 0.9 that shape this adapter:
- one process may open a shard directory (its write-ahead log is locked);
- `optimize()` (the HNSW build) holds the GIL for its whole run, so the
  serving process never calls it: `build_in_background` copies the shard,
  builds the copy's graph in a child process while searches go on against
  the live shard, then swaps the copy in and replays the writes made
  meanwhile (`manage.py optimize_index` builds off-line instead);
- a filter on a payload index without filter-aware graph links can silently
  drop matches from an HNSW search, which exact search never does.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import qdrant_edge as qe

from vectorstore import filters as f
from vectorstore.base import (
    PAYLOAD_INDEXES,
    Hit,
    QueryShortcuts,
    VectorPoint,
    VectorQuery,
    VectorStoreUnavailable,
)
from vectorstore.tuning import GRAPH_LINKED, IndexTuning

logger = logging.getLogger(__name__)


class EdgeStore(QueryShortcuts):
    """Shards under `path/<collection>/`. Thread-safe; exact search unless told otherwise."""

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
        # Unindexed points that start a background graph build (0: never).
        self.background_build_min = background_build_min
        self._swap = _ReadWriteLock()
        self._journals: dict[str, list[Any]] = {}
        self._builds: dict[str, threading.Thread] = {}
        self._closing = False
        # Collections opened from disk whose unindexed points no search has checked yet.
        self._unchecked: set[str] = set()
        # A graph swap cut off between its two renames leaves the old shard whole.
        for old in self.path.glob(".old-*") if self.path.is_dir() else ():
            live = self.path / old.name.removeprefix(".old-")
            if not live.exists():
                old.rename(live)
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
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()

    # -- collections -------------------------------------------------------

    def ensure_collection(self, name: str, dim: int) -> None:
        self._shard(name, dim=dim)

    def collections(self) -> list[str]:
        if not self.path.is_dir():
            return []
        # Dot-names are graph builds in progress (`build_in_background`).
        return sorted(p.name for p in self.path.iterdir() if p.is_dir() and p.name[0] != ".")

    def _shard(self, name: str, *, dim: int | None = None) -> qe.EdgeShard | None:
        """The open shard for `name`; created when `dim` is given, else None if absent."""
        with self._lock:
            shard = self._shards.get(name)
            if shard is not None:
                return shard
            directory = self.path / name
            try:
                loaded = (directory / "edge_config.json").exists() or (directory / "wal").exists()
                if loaded:
                    shard = qe.EdgeShard.load(str(directory))
                elif dim is None:
                    return None
                else:
                    directory.mkdir(parents=True, exist_ok=True)
                    shard = qe.EdgeShard.create(str(directory), self._config(dim))
                    for key, kind in PAYLOAD_INDEXES.items():
                        shard.update(
                            qe.UpdateOperation.create_field_index(key, self._schema(key, kind))
                        )
            except Exception as exc:
                raise VectorStoreUnavailable(
                    f"Cannot open the embedded vector store at {directory}: {exc}. "
                    "Only one process may open it: stop the other process, or use a Qdrant "
                    "server (QDRANT_URL) for multi-process deployments."
                ) from exc
            self._shards[name] = shard
            if loaded:
                self._unchecked.add(name)
            return shard

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
        shard = self._shard(collection, dim=len(points[0].vector))
        if shard is None:  # pragma: no cover  (a dim always creates the shard)
            raise VectorStoreUnavailable(f"Cannot create collection {collection}")
        op = qe.UpdateOperation.upsert_points(
            [qe.Point(p.id, _floats(p.vector), p.payload) for p in points]
        )
        self._write(collection, op)
        self._maybe_build(collection)

    def query(self, collection: str, query: VectorQuery) -> list[Hit]:
        return self.query_batch(collection, [query])[0]

    def query_batch(self, collection: str, queries: Sequence[VectorQuery]) -> list[list[Hit]]:
        shard = self._shard(collection)
        if shard is None or not queries:
            return [[] for _ in queries]
        if collection in self._unchecked:
            # Points a server left unindexed (it stopped mid-import) are built
            # at its first search, not at the next big write: until then every
            # search scans them. A command that never searches starts no build.
            self._unchecked.discard(collection)
            self._maybe_build(collection)
        requests = [self._request(q) for q in queries]
        with self._swap.reading():
            shard = self._shard(collection) or shard
            if len(requests) == 1:
                results = [self._call(shard.query, requests[0])]
            else:
                results = self._call(shard.query_batch, qe.QueryBatchRequest(requests))
        return [[_hit(p) for p in points] for points in results]

    def _request(self, query: VectorQuery) -> qe.QueryRequest:
        scoring: Any
        if query.vector is not None:
            scoring = qe.Query.Nearest(_floats(query.vector))
        else:
            recommend = qe.RecommendQuery(
                [_floats(v) for v in query.positives], [_floats(v) for v in query.negatives]
            )
            scoring = (
                qe.Query.RecommendSumScores(recommend)
                if query.strategy == "sum_scores"
                else qe.Query.RecommendBestScore(recommend)
            )
        return qe.QueryRequest(
            limit=query.limit,
            offset=query.offset,
            query=scoring,
            filter=to_edge_filter(query.filter) if query.filter else None,
            score_threshold=query.score_threshold,
            params=self._search_params(query.filter),
            with_payload=query.with_payload,
            with_vector=query.with_vectors,
        )

    def retrieve_vectors(self, collection: str, ids: Sequence[UUID]) -> dict[UUID, np.ndarray]:
        shard = self._shard(collection)
        if shard is None or not ids:
            return {}
        with self._swap.reading():
            shard = self._shard(collection) or shard
            records = self._call(shard.retrieve, list(ids), False, True)
        return {
            _uuid(r.id): np.asarray(r.vector, dtype=np.float32)
            for r in records
            if r.vector is not None
        }

    def count(self, collection: str, filter: f.Filter | None = None) -> int:
        shard = self._shard(collection)
        if shard is None:
            return 0
        request = qe.CountRequest(filter=to_edge_filter(filter) if filter else None, exact=True)
        with self._swap.reading():
            shard = self._shard(collection) or shard
            return int(self._call(shard.count, request))

    def set_payload(self, ids: Sequence[UUID], payload: dict[str, Any]) -> None:
        for name in self.collections():
            shard = self._shard(name)
            if shard is not None and ids:
                self._write(name, qe.UpdateOperation.set_payload(list(ids), payload))

    def delete(self, ids: Sequence[UUID]) -> None:
        for name in self.collections():
            shard = self._shard(name)
            if shard is not None and ids:
                self._write(name, qe.UpdateOperation.delete_points(list(ids)))

    def iter_ids(self, collection: str, batch: int = 1000) -> Iterator[UUID]:
        shard = self._shard(collection)
        if shard is None:
            return
        offset = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=batch, with_payload=False, with_vector=False
            )
            with self._swap.reading():
                shard = self._shard(collection) or shard
                records, offset = self._call(shard.scroll, request)
            yield from (_uuid(r.id) for r in records)
            if offset is None:
                return

    # -- maintenance -------------------------------------------------------

    def _write(self, collection: str, op: Any) -> None:
        with self._swap.reading():
            shard = self._shard(collection)
            if shard is None:  # pragma: no cover  (callers create or list it first)
                return
            self._call(shard.update, op)
            journal = self._journals.get(collection)
            if journal is not None:  # a build is copying or has copied this shard
                journal.append(op)

    def _maybe_build(self, collection: str) -> None:
        if not self.background_build_min:
            return
        # Under the lock, so that close() sees every build it must wait for.
        with self._lock:
            shard = self._shards.get(collection)
            if self._closing or collection in self._builds or shard is None:
                return
            info = shard.info()
            # Each build copies the whole shard, so wait for a tenth more points as it grows.
            due = max(self.background_build_min, info.points_count // 10)
            if info.points_count - info.indexed_vectors_count >= due:
                self.build_in_background(collection)

    def build_in_background(self, collection: str) -> threading.Thread:
        """Build `collection`'s graph in a child process; searches and writes go on meanwhile.

        The shard is flushed and copied (writes wait for the copy only), the
        copy is optimised by `vectorstore.build`, then swapped in under
        a brief exclusive lock, and the writes made since the copy are
        replayed on it.  Returns the thread that runs it (join it to wait).
        """
        with self._lock:
            running = self._builds.get(collection)
            if running is not None:
                return running
            thread = threading.Thread(
                target=self._build, args=(collection,), name=f"build-{collection}", daemon=True
            )
            self._builds[collection] = thread
        thread.start()
        return thread

    def _build(self, collection: str) -> None:
        live = self.path / collection
        work = self.path / f".build-{collection}"
        built_ok = False
        try:
            with self._swap.writing():
                shard = self._shard(collection)
                if shard is None:
                    return
                self._call(shard.flush)
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(live, work)
                self._journals[collection] = []
            subprocess.run(  # noqa: S603  (our interpreter, our module, a directory we made)
                [sys.executable, "-m", "vectorstore.build", str(work)],
                check=True,
                capture_output=True,
                timeout=24 * 3600,
            )
            with self._swap.writing():
                journal = self._journals.pop(collection, [])
                old = self.path / f".old-{collection}"
                with self._lock:
                    self._shards.pop(collection).close()
                    live.rename(old)
                    work.rename(live)
                    built = qe.EdgeShard.load(str(live))
                    for op in journal:
                        built.update(op)
                    self._shards[collection] = built
                shutil.rmtree(old, ignore_errors=True)
            built_ok = True
        except Exception:
            logger.exception(
                "Background graph build of %s failed; searches scan meanwhile", collection
            )
            self._journals.pop(collection, None)
            shutil.rmtree(work, ignore_errors=True)
        finally:
            with self._lock:
                self._builds.pop(collection, None)
                if built_ok:
                    # A big import outruns a build: the points it wrote meanwhile
                    # are the next build's, or they would be scanned until the next write.
                    self._maybe_build(collection)

    def _join_builds(self, collection: str) -> None:
        """Wait for `collection`'s background build, and any it chains on ending."""
        while True:
            with self._lock:
                running = self._builds.get(collection)
            if running is None:
                return
            running.join()

    def wait_for_graph(self, collection: str) -> None:
        """Block until the points written so far are in a graph built in the background."""
        self._join_builds(collection)
        shard = self._shard(collection)
        info = shard.info() if shard is not None else None
        if info is not None and info.indexed_vectors_count < info.points_count:
            self.build_in_background(collection).join()

    def optimize(self, collection: str) -> bool:
        """Build the HNSW graph in this process. Blocks it (GIL): run it off-line."""
        self._join_builds(collection)  # a build's swap would replace what is built here
        shard = self._shard(collection)
        return bool(shard and self._call(shard.optimize))

    def indexed_vectors(self, collection: str) -> int:
        shard = self._shard(collection)
        return int(shard.info().indexed_vectors_count) if shard else 0

    def graph_linked_fields(self, collection: str) -> set[str]:
        """Payload fields whose values have graph links of their own (`payload_m`)."""
        shard = self._shard(collection)
        schema = shard.info().payload_schema if shard else {}
        return {key for key, info in schema.items() if getattr(info.params, "enable_hnsw", True)}

    def segments(self, collection: str) -> int:
        """How many segments the collection is cut into (filter thresholds apply per segment)."""
        shard = self._shard(collection)
        return int(shard.info().segments_count) if shard else 0

    def ping(self) -> None:
        for name in self.collections():
            self._shard(name)

    def close(self) -> None:
        with self._lock:  # no build starts after this, not even one chained by another
            self._closing = True
            building = list(self._builds.values())
        for thread in building:
            thread.join()
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
        self._closing = False

    @staticmethod
    def _call(method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except Exception as exc:
            raise VectorStoreUnavailable(f"Embedded vector store error: {exc}") from exc


def to_edge_filter(flt: f.Filter) -> qe.Filter:
    return qe.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )


def _condition(cond: f.Condition) -> Any:
    if isinstance(cond, f.Filter):
        return to_edge_filter(cond)
    if isinstance(cond, f.HasId):
        return qe.HasIdCondition(set(cond.ids))
    if isinstance(cond, f.Match):
        return qe.FieldCondition(cond.key, match=qe.MatchValue(cond.value))
    if isinstance(cond, f.MatchAny):
        return qe.FieldCondition(cond.key, match=qe.MatchAny(cond.value_list()))
    if isinstance(cond, f.Range):
        return qe.FieldCondition(
            cond.key, range=qe.RangeFloat(gte=cond.gte, gt=cond.gt, lte=cond.lte, lt=cond.lt)
        )
    return qe.FieldCondition(
        cond.key,
        range=qe.RangeDateTime(
            gte=_dt(cond.gte), gt=_dt(cond.gt), lte=_dt(cond.lte), lt=_dt(cond.lt)
        ),
    )


def _dt(value: Any) -> str | None:
    return f.rfc3339(value) if value is not None else None


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _floats(vector: np.ndarray) -> list[float]:
    return [float(x) for x in vector]


def _hit(point: Any) -> Hit:
    vector = getattr(point, "vector", None)
    return Hit(
        id=_uuid(point.id),
        score=float(point.score),
        payload=point.payload,
        vector=np.asarray(vector, dtype=np.float32) if isinstance(vector, list) else None,
    )


class _ReadWriteLock:
    """Many readers or one writer: searches and writes share the shard, a swap has it alone."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writer)
            self._writer = True
            self._condition.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()
