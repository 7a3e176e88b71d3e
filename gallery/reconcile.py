"""Reconcile the three places an image lives: its row, its stored files and its vector.

Rows and vectors are compared in id ranges, each in one pass over two sorted
streams: the rows in the range by primary key (`iterator`, a chunk at a time)
and the store's points in the range by id (a scroll from the range's start).
Both order UUIDs as 128-bit numbers (PostgreSQL's uuid, SQLite's hex text,
Qdrant's point ids), so memory stays a few chunks whatever the collection
holds, and each range can be a task of its own (`workers.tasks.reconcile_chunk_task`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise, takewhile
from uuid import UUID

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q

from core.iterables import batched
from gallery.indexes import search_encoder
from gallery.models import Image, VideoMoment
from gallery.services import image_reindex
from vectorstore import VectorStore, get_store

logger = logging.getLogger(__name__)

# Rows read per database round trip, points per scroll, ids per repair.
STREAM_CHUNK = 2000
REPAIR_BATCH = 1000
# Orphan files named in the report; the rest are only counted.
ORPHAN_FILES_LISTED = 50

IdRange = tuple[UUID | None, UUID | None]


@dataclass
class ReconcileReport:
    requeued: int = 0
    orphan_vectors_removed: int = 0
    missing_files: int = 0
    orphan_files: int = 0
    orphan_file_names: list[str] = field(default_factory=list)

    def add(self, other: ReconcileReport) -> None:
        self.requeued += other.requeued
        self.orphan_vectors_removed += other.orphan_vectors_removed
        self.missing_files += other.missing_files
        self.orphan_files += other.orphan_files
        room = ORPHAN_FILES_LISTED - len(self.orphan_file_names)
        self.orphan_file_names += other.orphan_file_names[: max(room, 0)]

    def lines(self) -> list[str]:
        return [
            f"re-queued {self.requeued} images whose vector was missing",
            f"removed {self.orphan_vectors_removed} vectors without an image",
            f"{self.missing_files} images whose stored file is missing (marked failed)",
            f"{self.orphan_files} stored files without an image (reported, not deleted)",
            *(f"  orphan file: {name}" for name in self.orphan_file_names),
        ]


def reconcile(*, fix: bool = True, check_files: bool = True) -> ReconcileReport:
    """Compare rows, files and vectors in this process, range by range; repair what is safe.

    - an indexed row without a vector is queued for indexing again;
    - a vector without a row is deleted (an interrupted delete);
    - a row whose file is gone is marked failed (nothing to index);
    - a stored file without a row is only reported: deleting user data on a
      guess is worse than a stray file.
    Idempotent. Memory is bounded by the chunk sizes, not the image count.
    Raises `VectorStoreUnavailable`.
    """
    report = ReconcileReport()
    for start, stop in reconcile_ranges():
        report.add(reconcile_vectors(start=start, stop=stop, fix=fix))
    if check_files:
        report.add(reconcile_files(fix=fix))
    return report


def reconcile_ranges(*, rows_per_range: int | None = None) -> list[IdRange]:
    """Id ranges `[start, stop)` that cover every UUID, of about `rows_per_range` images each.

    Image ids are uuid4 (the model's default), spread evenly over the id
    space, so equal slices of it hold about equal numbers of rows, with no
    walk over the table to find the boundaries. `None` is open-ended.
    """
    per_range = rows_per_range or settings.RECONCILE_CHUNK_ROWS
    store = get_store()
    held = max(Image.objects.count(), store.count(search_encoder().collection_name))
    count = max(1, math.ceil(held / per_range))
    bounds: list[UUID | None] = [None]
    bounds += [UUID(int=(n << 128) // count) for n in range(1, count)]
    bounds.append(None)
    return list(pairwise(bounds))


def reconcile_vectors(
    *, start: UUID | None = None, stop: UUID | None = None, fix: bool = True
) -> ReconcileReport:
    """Compare the rows and the vectors with ids in `[start, stop)`; repair what differs.

    An indexed row without a vector is queued again (`image_reindex`); a
    vector without a row is deleted. One merge of the two id-ordered streams,
    repairs applied a batch at a time, so memory does not grow with the range.
    Idempotent. Raises `VectorStoreUnavailable`.
    """
    store = get_store()
    collection = search_encoder().collection_name
    report = ReconcileReport()
    missing: list[UUID] = []
    orphans: list[UUID] = []

    def flush(final: bool = False) -> None:
        if len(missing) >= REPAIR_BATCH or (final and missing):
            report.requeued += _requeue(store, collection, missing, fix=fix)
            missing.clear()
        if len(orphans) >= REPAIR_BATCH or (final and orphans):
            report.orphan_vectors_removed += _delete_orphans(store, orphans, fix=fix)
            orphans.clear()

    rows = _rows_in(start, stop)
    vectors = _vector_ids_in(store, collection, start, stop)
    row = next(rows, None)
    vector = next(vectors, None)
    while row is not None or vector is not None:
        if row is not None and (vector is None or row[0] < vector):
            pk, status = row
            if status == Image.Status.INDEXED:
                missing.append(pk)
            row = next(rows, None)
        elif vector is not None and (row is None or vector < row[0]):
            orphans.append(vector)
            vector = next(vectors, None)
        else:  # the row and its vector
            row, vector = next(rows, None), next(vectors, None)
        flush()
    flush(final=True)
    return report


def _rows_in(start: UUID | None, stop: UUID | None) -> Iterator[tuple[UUID, str]]:
    """(id, status) of the rows in `[start, stop)`, in id order, a chunk at a time."""
    rows = Image.objects.order_by("pk")
    if start is not None:
        rows = rows.filter(pk__gte=start)
    if stop is not None:
        rows = rows.filter(pk__lt=stop)
    return rows.values_list("pk", "status").iterator(chunk_size=STREAM_CHUNK)


def _vector_ids_in(
    store: VectorStore, collection: str, start: UUID | None, stop: UUID | None
) -> Iterator[UUID]:
    """The store's point ids in `[start, stop)`, in id order: a scroll from `start`, ended at
    the first id past the range."""
    ids = store.iter_ids(collection, batch=STREAM_CHUNK, start=start)
    if stop is None:
        return ids
    return takewhile(lambda point: point < stop, ids)


# The two streams are read a chunk at a time, each at its own moment, so an
# image indexed or uploaded during the pass can look like a difference. Each
# difference is checked again before it is repaired: a row is created before
# its vector is written and marked indexed after, so what survives the check is real.


def _requeue(store: VectorStore, collection: str, ids: list[UUID], *, fix: bool) -> int:
    """Queue again the images `ids` that are still indexed and still have no vector."""
    held = store.retrieve_vectors(collection, ids)
    images = Image.objects.filter(pk__in=[i for i in ids if i not in held])
    images = images.filter(status=Image.Status.INDEXED)
    if not fix:
        return images.count()
    requeued = 0
    for image in images:
        image_reindex(image=image)
        requeued += 1
    return requeued


def _delete_orphans(store: VectorStore, ids: list[UUID], *, fix: bool) -> int:
    """Delete the vectors `ids` whose row still does not exist."""
    rows = set(Image.objects.filter(pk__in=ids).values_list("pk", flat=True))
    # A video's moments are points without an image row.
    rows |= set(VideoMoment.objects.filter(point_id__in=ids).values_list("point_id", flat=True))
    orphans = [i for i in ids if i not in rows]
    if fix and orphans:
        store.delete(orphans)
    return len(orphans)


def reconcile_files(*, fix: bool = True) -> ReconcileReport:
    """Mark failed the rows whose file is gone; count (and name a few) files without a row.

    Streams the rows and the storage listing; each batch of listed names is
    looked up in the database, so no set of every name is held. Idempotent.
    """
    report = ReconcileReport()
    rows = Image.objects.only("pk", "file", "status").order_by("pk")
    for image in rows.iterator(chunk_size=STREAM_CHUNK):
        if image.file.name and not default_storage.exists(image.file.name):
            report.missing_files += 1
            if fix:
                image.mark_failed(error="The stored file is missing.")
    for names in batched(_stored_names(), REPAIR_BATCH):
        known: set[str] = set()
        for pair in Image.objects.filter(Q(file__in=names) | Q(thumbnail__in=names)).values_list(
            "file", "thumbnail"
        ):
            known.update(pair)
        stray = [name for name in names if name not in known]
        report.orphan_files += len(stray)
        room = ORPHAN_FILES_LISTED - len(report.orphan_file_names)
        report.orphan_file_names += stray[: max(room, 0)]
    return report


def _stored_names() -> Iterable[str]:
    for top in ("images", "thumbnails"):
        stack = [top]
        while stack:
            directory = stack.pop()
            try:
                dirs, files = default_storage.listdir(directory)
            except (FileNotFoundError, NotImplementedError):
                continue
            yield from (f"{directory}/{f}" for f in files)
            stack.extend(f"{directory}/{d}" for d in dirs)
