"""The embedded engine's shards under one directory, and the swap that replaces one.

qdrant-edge-py keeps a collection in one shard directory, `path/<collection>/`,
which one process may open (its write-ahead log is locked). Searches and
writes share the open shards; swapping in a copy whose graph was built
elsewhere (`vectorstore.graphs`) takes them alone, briefly, and replays the
writes journaled since the copy was taken.

Dot-names are not collections: `.build-<name>` is a copy being built and
`.old-<name>` a shard being swapped out.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import qdrant_edge as qe

from vectorstore.base import LEXICAL_VECTOR, VectorStoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def call(method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call the engine; its errors (plain `Exception`s) become `VectorStoreUnavailable`."""
    try:
        return method(*args, **kwargs)
    except Exception as exc:
        raise VectorStoreUnavailable(f"Embedded vector store error: {exc}") from exc


class ShardSet:
    """The shards under `path`, opened on first use. Thread-safe.

    `create(directory, dim)` makes a new, configured shard (the adapter's
    settings). Opening raises `VectorStoreUnavailable` when another process
    holds the directory; every engine call raises it when the engine fails.
    """

    def __init__(
        self,
        path: Path,
        create: Callable[[Path, int], qe.EdgeShard],
        *,
        upgrade: Callable[[qe.EdgeShard], None] | None = None,
    ) -> None:
        self.path = path
        self._create = create
        self._upgrade = upgrade
        self._open: dict[str, qe.EdgeShard] = {}
        # Guards `_open`: opening a shard, and the moment a swap replaces it.
        self._lock = threading.RLock()
        self._swap = _ReadWriteLock()
        # Writes made since a build copied the shard, to replay on the built copy.
        self._journals: dict[str, list[qe.UpdateOperation]] = {}
        self._journal_order = threading.Lock()
        # Shards loaded from disk that `first_look` has not reported yet.
        self._unseen: set[str] = set()
        # A swap cut off between its two renames leaves the old shard whole.
        for old in self.path.glob(".old-*") if self.path.is_dir() else ():
            live = self.path / old.name.removeprefix(".old-")
            if not live.exists():
                old.rename(live)

    def names(self) -> list[str]:
        """The collections on disk, open or not."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.is_dir() and p.name[0] != ".")

    def get(self, name: str, *, dim: int | None = None) -> qe.EdgeShard | None:
        """The open shard for `name`, loaded from disk if need be; created when `dim`
        is given, else None if absent."""
        with self._lock:
            shard = self._open.get(name)
            if shard is not None:
                return shard
            directory = self.path / name
            try:
                loaded = (directory / "edge_config.json").exists() or (directory / "wal").exists()
                if loaded:
                    shard = qe.EdgeShard.load(str(directory))
                    if self._upgrade is not None:
                        self._upgrade(shard)
                elif dim is None:
                    return None
                else:
                    directory.mkdir(parents=True, exist_ok=True)
                    shard = self._create(directory, dim)
            except Exception as exc:
                raise VectorStoreUnavailable(
                    f"Cannot open the embedded vector store at {directory}: {exc}. "
                    "Only one process may open it: stop the other process, or use a Qdrant "
                    "server (QDRANT_URL) for multi-process deployments."
                ) from exc
            self._open[name] = shard
            if loaded:
                self._unseen.add(name)
            return shard

    def first_look(self, name: str) -> bool:
        """True once for a shard loaded from disk (not created by this process)."""
        with self._lock:
            if name not in self._unseen:
                return False
            self._unseen.discard(name)
            return True

    @contextmanager
    def reading(self, name: str) -> Iterator[qe.EdgeShard | None]:
        """`name`'s shard, which no swap replaces or closes until the block ends."""
        with self._swap.reading():
            yield self.get(name)

    def write(self, name: str, op: qe.UpdateOperation) -> None:
        """Apply `op` to `name`'s shard (nothing if absent), journaled while a build runs."""
        with self._swap.reading():
            shard = self.get(name)
            if shard is None:
                return
            # A journal's presence only changes under the exclusive lock, so it
            # holds for this block.
            journal = self._journals.get(name)
            if journal is None:
                call(shard.update, op)
                return
            # Concurrent writes are applied and journaled as one step, so that the
            # replay applies them in the order the live shard did.
            with self._journal_order:
                call(shard.update, op)
                journal.append(op)

    def info(self, name: str) -> qe.ShardInfo | None:
        with self.reading(name) as shard:
            return call(shard.info) if shard is not None else None

    def graph_coverage(self, name: str) -> tuple[int, int] | None:
        """(points, CLIP vectors in the HNSW graph) of `name`, or None when it does not exist.

        The engine's `indexed_vectors_count` also counts every sparse vector
        (an inverted index holds each as it is written), so those are taken
        off, or a collection with a lexical side would look built before any
        graph exists.
        """
        with self.reading(name) as shard:
            if shard is None:
                return None
            info = call(shard.info)
            lexical = qe.Filter(must=[qe.HasVectorCondition(LEXICAL_VECTOR)])
            sparse = call(shard.count, qe.CountRequest(filter=lexical, exact=True))
        return int(info.points_count), int(info.indexed_vectors_count) - int(sparse)

    def optimize(self, name: str) -> bool:
        """Build `name`'s graph in this process, holding the GIL throughout."""
        with self.reading(name) as shard:
            return bool(shard is not None and call(shard.optimize))

    # -- the swap: copy, build elsewhere, swap in -------------------------

    def copy_for_build(self, name: str) -> Path | None:
        """Flush `name`'s shard and copy it to `.build-<name>`, journaling the writes
        that follow; None if it does not exist. Writes wait for the copy only."""
        work = self.path / f".build-{name}"
        with self._swap.writing():
            shard = self.get(name)
            if shard is None:
                return None
            call(shard.flush)
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(self.path / name, work)
            self._journals[name] = []
        return work

    def swap_in(self, name: str, built: Path) -> None:
        """Replace `name`'s shard by the directory `built` and replay the journal on it.

        The live shard is renamed aside before the copy takes its name, so a
        crash between the two renames leaves it whole for `__init__` to restore.
        """
        live = self.path / name
        old = self.path / f".old-{name}"
        with self._swap.writing():
            journal = self._journals.pop(name, [])
            with self._lock:
                self._open.pop(name).close()
                live.rename(old)
                built.rename(live)
                shard = qe.EdgeShard.load(str(live))
                for op in journal:
                    shard.update(op)
                self._open[name] = shard
            shutil.rmtree(old, ignore_errors=True)

    def abandon_build(self, name: str) -> None:
        """Stop journaling for a build that failed, and remove its copy."""
        self._journals.pop(name, None)
        shutil.rmtree(self.path / f".build-{name}", ignore_errors=True)

    def is_journaling(self, name: str) -> bool:
        """Whether a build has copied `name`'s shard and not yet swapped it in."""
        return name in self._journals

    def close(self) -> None:
        """Close every open shard, releasing the directory; later calls reopen them."""
        with self._lock:
            for shard in self._open.values():
                shard.close()
            self._open.clear()


class _ReadWriteLock:
    """Many readers or one writer: searches and writes share the shard, a swap has it alone.

    A waiting writer keeps new readers out, so that a stream of searches cannot
    starve a swap. Hence a reader must not take it again while it holds it: it
    would wait for the writer that waits for it.
    """

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
