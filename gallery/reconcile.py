"""Reconcile the three places an image lives: its row, its stored files and its vector."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

from django.core.files.storage import default_storage

from gallery.indexes import search_encoder
from gallery.models import Image
from gallery.services import image_reindex
from vectorstore import get_store

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    requeued: list[UUID] = field(default_factory=list)
    orphan_vectors_removed: list[UUID] = field(default_factory=list)
    missing_files: list[UUID] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"re-queued {len(self.requeued)} images whose vector was missing",
            f"removed {len(self.orphan_vectors_removed)} vectors without an image",
            f"{len(self.missing_files)} images whose stored file is missing (marked failed)",
            f"{len(self.orphan_files)} stored files without an image (reported, not deleted)",
            *(f"  orphan file: {name}" for name in self.orphan_files[:50]),
        ]


def reconcile(*, fix: bool = True, check_files: bool = True) -> ReconcileReport:
    """Compare rows, files and vectors; repair what can be repaired safely.

    - an indexed row without a vector is queued for indexing again;
    - a vector without a row is deleted (an interrupted delete);
    - a row whose file is gone is marked failed (nothing to index);
    - a stored file without a row is only reported: deleting user data on a
      guess is worse than a stray file.
    Idempotent.
    """
    report = ReconcileReport()
    store = get_store()
    collection = search_encoder().collection_name
    vector_ids = set(store.iter_ids(collection))
    rows = dict(Image.objects.values_list("pk", "status"))

    orphans = [i for i in vector_ids if i not in rows]
    if orphans and fix:
        store.delete(orphans)
    report.orphan_vectors_removed = orphans

    for image in Image.objects.filter(status=Image.Status.INDEXED).exclude(pk__in=vector_ids):
        report.requeued.append(image.pk)
        if fix:
            image_reindex(image=image)

    if check_files:
        known: set[str] = set()
        for image in Image.objects.only("pk", "file", "thumbnail", "status"):
            known.update(n for n in (image.file.name, image.thumbnail.name) if n)
            if image.file.name and not default_storage.exists(image.file.name):
                report.missing_files.append(image.pk)
                if fix:
                    image.mark_failed(error="The stored file is missing.")
        report.orphan_files = [n for n in _stored_names() if n not in known]
    return report


def _stored_names() -> list[str]:
    names: list[str] = []
    for top in ("images", "thumbnails"):
        stack = [top]
        while stack:
            directory = stack.pop()
            try:
                dirs, files = default_storage.listdir(directory)
            except (FileNotFoundError, NotImplementedError):
                continue
            names.extend(f"{directory}/{f}" for f in files)
            stack.extend(f"{directory}/{d}" for d in dirs)
    return names
