"""Saving and deleting uploaded files in the default storage (disk or S3)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


def store_file(name: str, content: bytes | IO[bytes]) -> str:
    """Save to the default storage; an unreachable storage is a 503, not a traceback.

    A file object is streamed in chunks (on S3, a multipart upload), never read whole.
    """
    wrapped = ContentFile(content) if isinstance(content, bytes) else File(content)
    try:
        return default_storage.save(name, wrapped)
    except Exception as exc:  # S3 and disk errors have no common base
        logger.exception("Storage failed while saving %s", name)
        raise ServiceUnavailable(
            "storage_unavailable", "The file storage is unavailable; nothing was saved. Try again."
        ) from exc


def delete_stored_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:
            logger.exception("Could not delete stored file %s", name)


def clean_filename(name: str) -> str:
    # Kept only for display and search; never used as a storage path.
    return Path(name.replace("\\", "/")).name[:255]
