"""Stored files on disk: copied out as they are (the S3 side is in test_s3_storage.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from gallery.files import copy_stored_file, store_file, stored_local_path


def test_a_file_on_disk_is_its_own_local_path(isolated_storage: Path) -> None:
    name = store_file("videos/ab/clip.mp4", io.BytesIO(b"not really a video"))

    with stored_local_path(name) as path:
        assert path == Path(default_storage.path(name))
        assert path.read_bytes() == b"not really a video"

    assert path.exists()  # the stored file itself, not a copy to clean up


def test_copying_a_stored_file_writes_its_bytes(isolated_storage: Path) -> None:
    data = bytes(range(256)) * 10_000
    name = store_file("videos/ab/clip.mp4", io.BytesIO(data))
    out = io.BytesIO()

    copy_stored_file(name, out)

    assert out.getvalue() == data


def test_copying_a_missing_file_is_a_file_not_found(isolated_storage: Path) -> None:
    with pytest.raises(FileNotFoundError):
        copy_stored_file("videos/gone.mp4", io.BytesIO())
