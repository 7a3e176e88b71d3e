"""Saving, copying out and deleting uploaded files in the default storage (disk or S3)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

from core.errors import ServiceUnavailable

logger = logging.getLogger(__name__)
_CHUNK = 1024 * 1024


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


@contextmanager
def stored_local_path(name: str) -> Iterator[Path]:
    """The stored file as a local path, for tools that seek in a file (PyAV).

    On disk, the file itself. Elsewhere, a temporary copy streamed to disk a
    chunk at a time (`copy_stored_file`), removed on exit. Raises
    FileNotFoundError when the stored file is gone.
    """
    if isinstance(default_storage, FileSystemStorage):
        yield Path(default_storage.path(name))
        return
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix[:8], prefix="clipsearch-") as copy:
        copy_stored_file(name, copy)
        copy.flush()
        yield Path(copy.name)


def copy_stored_file(name: str, out: IO[bytes]) -> None:
    """Write the stored file into `out`, never holding it whole in memory.

    Reading an S3 object through `default_storage.open` would not do: its
    file first downloads the whole object into a SpooledTemporaryFile, which
    stays in memory at django-storages' default `max_memory_size` of 0 (never
    rolled over). So on S3 the object is downloaded straight into `out`, in
    boto3's ranged parts. Raises FileNotFoundError when the file is gone.
    """
    if not isinstance(default_storage, FileSystemStorage):
        # Here, not at the top: boto3 loads only in processes that store off disk.
        from s3transfer.constants import ALLOWED_DOWNLOAD_ARGS
        from storages.backends.s3 import S3Storage

        if isinstance(default_storage, S3Storage):
            with default_storage.open(name, "rb") as stored:  # a HEAD: FileNotFoundError
                # What S3File itself passes when it downloads (SSE-C keys, if configured).
                params = default_storage.get_object_parameters(name)
                extra = {k: v for k, v in params.items() if k in ALLOWED_DOWNLOAD_ARGS}
                config = default_storage.transfer_config
                stored.obj.download_fileobj(out, ExtraArgs=extra, Config=config)
            return
    with default_storage.open(name, "rb") as stored:
        shutil.copyfileobj(stored, out, _CHUNK)


def delete_stored_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:
            logger.exception("Could not delete stored file %s", name)


def clean_filename(name: str) -> str:
    # Kept only for display and search; never used as a storage path.
    return Path(name.replace("\\", "/")).name[:255]
