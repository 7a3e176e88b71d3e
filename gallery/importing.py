"""Bulk import of a folder: walk it lazily, import each image, report what happened."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser

from clipsite.errors import ApplicationError
from gallery.models import Image
from gallery.services import DuplicateImage, image_import

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".gif",
    ".heic",
    ".heif",
    ".bmp",
    ".tif",
    ".tiff",
}


@dataclass
class ImportSummary:
    imported: int = 0
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)


def iter_image_files(root: Path) -> Iterator[Path]:
    """Yield image files under `root`, depth first, in a stable order, without listing it all."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                ordered = sorted(entries, key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in ordered:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
        for entry in reversed(ordered):
            if entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(entry.path)


def import_one(
    *, owner: AbstractBaseUser, path: Path, visibility: str, summary: ImportSummary
) -> None:
    """Import one file into `summary`; bad files are counted, never fatal."""
    try:
        image = image_import(owner=owner, path=path, visibility=visibility)
    except DuplicateImage:
        summary.skipped += 1
        summary.reasons["duplicate_image"] += 1
        return
    except ApplicationError as exc:
        summary.failed += 1
        summary.reasons[exc.code] += 1
        summary.failures.append((str(path), exc.message))
        return
    except OSError as exc:
        summary.failed += 1
        summary.reasons["unreadable_file"] += 1
        summary.failures.append((str(path), str(exc)))
        return
    summary.imported += 1
    image.refresh_from_db(fields=["status", "error"])
    if image.status == Image.Status.INDEXED:
        summary.indexed += 1
    elif image.status == Image.Status.FAILED:
        summary.failed += 1
        summary.reasons["index_failed"] += 1
        summary.failures.append((str(path), image.error))


@contextmanager
def quiet_task_logs() -> Iterator[None]:
    """Per-image INFO lines would scroll a progress bar away; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("celery.app.trace", "workers.indexing")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
