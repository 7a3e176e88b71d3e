from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from encoder.clip import get_encoder
from gallery.models import Image
from tests.factories import image_bytes, picture
from tests.support.capture import Capture
from vectorstore import EdgeStore, get_store, reset_store
from workers.tasks import index_image_task

pytestmark = pytest.mark.django_db


def _hold_store(settings: Any, tmp_path: Path) -> EdgeStore:
    """Another opener holds the embedded store, so this process cannot open it."""
    path = tmp_path / "held"
    holder = EdgeStore(str(path))
    holder.ensure_collection(get_encoder().collection_name, get_encoder().dim)
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {"path": str(path)},
    }
    reset_store()
    return holder


def test_store_outage_retries_then_marks_failed_and_reindex_recovers(
    alice_api: Any,
    upload: Any,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.INDEX_MAX_RETRIES = 2
    holder = _hold_store(settings, tmp_path)
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    failed = alice_api.get(f"/api/images/{image_id}/").json()
    assert failed["status"] == "failed"
    assert "vector store" in failed["error"]

    holder.close()
    reset_store()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(f"/api/images/{image_id}/reindex/")
    assert response.status_code == 202
    assert alice_api.get(f"/api/images/{image_id}/").json()["status"] == "indexed"
    assert get_store().count(get_encoder().collection_name) == 1


def test_task_for_a_deleted_row_exits_quietly() -> None:
    result = index_image_task.apply(args=["00000000-0000-0000-0000-000000000000"])
    assert result.successful()


def test_undecodable_stored_file_marks_failed_without_retrying(
    alice_api: Any, upload: Any, caplog: pytest.LogCaptureFixture
) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]
    image = Image.objects.get(pk=image_id)
    with default_storage.open(image.file.name, "wb") as handle:
        handle.write(b"garbage")

    index_image_task.apply(args=[image_id])

    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert "cannot be read" in image.error
    # The server log says which image failed and why.
    failures = [
        r for r in caplog.records if r.levelname == "WARNING" and image_id in r.getMessage()
    ]
    assert failures, "no log line names the failed image"
    assert "cannot be read" in failures[0].getMessage()


def test_task_is_idempotent(alice_api: Any, upload: Any) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    index_image_task.apply(args=[image_id])
    index_image_task.apply(args=[image_id])

    assert get_store().count(get_encoder().collection_name) == 1


@pytest.mark.django_db(transaction=True)  # after-commit indexing runs as in production
def test_index_folder_imports_recursively_and_reports(alice: Any, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "2024" / "summer").mkdir(parents=True)
    (folder / "a.png").write_bytes(image_bytes(picture((200, 0, 0))))
    (folder / "2024" / "b.jpg").write_bytes(image_bytes(picture((0, 200, 0)), "JPEG"))
    (folder / "2024" / "summer" / "c.webp").write_bytes(image_bytes(picture((0, 0, 200)), "WEBP"))
    (folder / "2024" / "summer" / "copy-of-a.png").write_bytes(image_bytes(picture((200, 0, 0))))
    (folder / "2024" / "broken.jpg").write_bytes(b"not really a jpeg")
    (folder / "notes.txt").write_text("ignored")
    out = Capture()

    call_command(
        "index_folder",
        str(folder),
        "--owner",
        "alice",
        "--visibility",
        "public",
        stdout=out,
        stderr=Capture(),
    )

    assert Image.objects.filter(status=Image.Status.INDEXED, visibility="public").count() == 3
    assert "Imported 3 (indexed 3), skipped 1, failed 1." in out.text
    assert "duplicate_image: 1" in out.text
    assert "broken.jpg" in out.text

    again = Capture()
    call_command("index_folder", str(folder), stdout=again, stderr=Capture())
    assert "Imported 0 (indexed 0), skipped 4, failed 1." in again.text


def test_index_folder_refuses_a_missing_folder_or_owner(alice: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not a directory"):
        call_command("index_folder", str(tmp_path / "nope"))
    with pytest.raises(CommandError, match="No user named"):
        call_command("index_folder", str(tmp_path), "--owner", "mallory")


def test_index_folder_fails_early_when_the_model_cannot_load(
    alice: Any, tmp_path: Path, settings: Any
) -> None:
    from encoder import clip as encoder

    configured = settings.CLIP_MODEL
    settings.CLIP_MODEL = str(tmp_path / "missing-model")
    encoder.reset_encoder()
    try:
        with pytest.raises(CommandError, match="CLIP_MODEL="):
            call_command("index_folder", str(tmp_path))
    finally:
        settings.CLIP_MODEL = configured
        encoder.reset_encoder()
