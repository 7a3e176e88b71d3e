"""Graph builds for the embedded engine, run beside the serving process.

qdrant-edge-py's `optimize()` (the HNSW build) holds the GIL for its whole
run, so a serving process never calls it: a build copies the shard, builds
the copy's graph in a child process (`python -m vectorstore.build`) while
searches and writes go on against the live shard, then swaps the copy in and
replays the writes made meanwhile (`ShardSet`). `manage.py optimize_index`
builds in process instead, off-line. A Qdrant server's optimizer does all
of this itself.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from vectorstore.shards import ShardSet

logger = logging.getLogger(__name__)


class GraphBuilds:
    """`GraphMaintenance` of a `ShardSet`: background builds, one per collection at a time.

    With `background_build_min` > 0, a write or first search that leaves that
    many points (and a tenth of the collection) outside the graph starts a
    build; a build whose end finds enough points written meanwhile starts the
    next. Thread-safe. A failed build is logged and searches scan meanwhile;
    the reads raise `VectorStoreUnavailable` as the store's do.
    """

    def __init__(self, shards: ShardSet, *, background_build_min: int = 0) -> None:
        self._shards = shards
        # Unindexed points that start a background graph build (0: never).
        self._background_build_min = background_build_min
        self._builds: dict[str, threading.Thread] = {}
        self._closing = False
        # Reentrant: a build's end, holding it, may start the next build.
        self._lock = threading.RLock()

    def maybe_build(self, collection: str) -> None:
        """Start a background build if enough of `collection`'s points are not in the graph."""
        if not self._background_build_min:
            return
        # Under the lock, so that `stopped()` sees every build it must wait for.
        with self._lock:
            if self._closing or collection in self._builds:
                return
            coverage = self._shards.graph_coverage(collection)
            if coverage is None:
                return
            points, in_graph = coverage
            # Each build copies the whole shard, so wait for a tenth more points as it grows.
            due = max(self._background_build_min, points // 10)
            if points - in_graph >= due:
                self.build_in_background(collection)

    def before_search(self, collection: str) -> None:
        """Called before each search: the first one of a shard loaded from disk may start a build.

        Points a server left unindexed (it stopped mid-import) are built at its
        first search, not at the next big write: until then every search scans
        them. A command that never searches starts no build.
        """
        if self._shards.first_look(collection):
            self.maybe_build(collection)

    def build_in_background(self, collection: str) -> threading.Thread:
        """Build `collection`'s graph in a child process; searches and writes go on meanwhile.

        The shard is flushed and copied (writes wait for the copy only), the
        copy is optimised by `vectorstore.build`, then swapped in under a brief
        exclusive lock, and the writes made since the copy are replayed on it.
        Returns the thread that runs it (join it to wait); the running one if
        a build of `collection` is under way.
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
        built_ok = False
        try:
            work = self._shards.copy_for_build(collection)
            if work is None:
                return
            subprocess.run(  # noqa: S603  (our interpreter, our module, a directory we made)
                [sys.executable, "-m", "vectorstore.build", str(work)],
                check=True,
                capture_output=True,
                timeout=24 * 3600,
            )
            self._shards.swap_in(collection, work)
            built_ok = True
        except Exception:
            logger.exception(
                "Background graph build of %s failed; searches scan meanwhile", collection
            )
            self._shards.abandon_build(collection)
        finally:
            with self._lock:
                self._builds.pop(collection, None)
                if built_ok:
                    # A big import outruns a build: the points it wrote meanwhile
                    # are the next build's, or they would be scanned until the next write.
                    self.maybe_build(collection)

    def _join(self, collection: str) -> None:
        """Wait for `collection`'s background build, and any it chains on ending."""
        while True:
            with self._lock:
                running = self._builds.get(collection)
            if running is None:
                return
            running.join()

    def wait_for_graph(self, collection: str) -> None:
        """Block until the points written so far are in a graph built in the background."""
        self._join(collection)
        coverage = self._shards.graph_coverage(collection)
        if coverage is not None and coverage[1] < coverage[0]:
            self.build_in_background(collection).join()

    def optimize(self, collection: str) -> bool:
        """Build the HNSW graph in this process. Blocks it (GIL): run it off-line."""
        self._join(collection)  # a build's swap would replace what is built here
        return self._shards.optimize(collection)

    def indexed_vectors(self, collection: str) -> int:
        """CLIP vectors in `collection`'s graph."""
        coverage = self._shards.graph_coverage(collection)
        return coverage[1] if coverage is not None else 0

    def segments(self, collection: str) -> int:
        info = self._shards.info(collection)
        return int(info.segments_count) if info is not None else 0

    def graph_linked_fields(self, collection: str) -> set[str]:
        info = self._shards.info(collection)
        schema = info.payload_schema if info is not None else {}
        return {key for key, index in schema.items() if getattr(index.params, "enable_hnsw", True)}

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Wait for the running builds; none starts inside the block (to close the shards)."""
        with self._lock:  # no build starts after this, not even one chained by another
            self._closing = True
            building = list(self._builds.values())
        try:
            for thread in building:
                thread.join()
            yield
        finally:
            self._closing = False
