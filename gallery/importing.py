"""Bulk import of a folder: walk it lazily and report what happened (see gallery.bulk)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from gallery.camera_raw import RAW_SUFFIXES

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".mpo",
    ".png",
    ".webp",
    ".gif",
    ".heic",
    ".heif",
    ".avif",
    ".bmp",
    ".tif",
    ".tiff",
}


@dataclass
class ImportSummary:
    imported: int = 0
    indexed: int = 0
    resumed: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)

    # Enough to show; a folder of 100k broken files must not fill memory.
    KEEP_FAILURES = 100

    @property
    def processed(self) -> int:
        return self.imported + self.skipped + self.failed

    def fail(self, path: str, code: str, message: str) -> None:
        self.failed += 1
        self.reasons[code] += 1
        if len(self.failures) < self.KEEP_FAILURES:
            self.failures.append((path, message))


def iter_image_files(root: Path) -> Iterator[Path]:
    """Yield image files under `root`, streaming each directory as the OS lists it.

    Only the directories still to visit are held, never a listing, so a
    folder of 100k photos costs no more memory than a folder of ten.  The
    order is the file system's; resuming relies on content hashes, not order.
    Camera RAW files are found only with `UPLOAD_RAW_ENABLED`: otherwise a
    folder shot RAW + JPEG would report every RAW file as a failure.
    """
    suffixes = IMAGE_SUFFIXES | RAW_SUFFIXES if settings.UPLOAD_RAW_ENABLED else IMAGE_SUFFIXES
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file() and Path(entry.name).suffix.lower() in suffixes:
                        yield Path(entry.path)
        except OSError:
            continue


def count_image_files(root: Path) -> int:
    """How many files `iter_image_files` will yield (for a progress bar's total)."""
    return sum(1 for _ in iter_image_files(root))


@contextmanager
def quiet_task_logs() -> Iterator[None]:
    """Per-image INFO lines would scroll a progress bar away; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("celery.app.trace", "gallery.indexing")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
