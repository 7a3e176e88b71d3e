from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from encoder.clip import get_encoder
from gallery.models import Image
from tests.conftest import stored_files
from tests.factories import image_bytes, picture
from vectorstore import VectorPoint, get_store

pytestmark = pytest.mark.django_db


def test_reconcile_repairs_missing_and_orphan_vectors_and_reports_files(
    alice_api: Any, upload: Any, django_capture_on_commit_callbacks: Any
) -> None:
    lost_vector = upload(alice_api, image_bytes(picture((200, 0, 0)))).json()["id"]
    lost_file = upload(alice_api, image_bytes(picture((0, 200, 0)))).json()["id"]
    store, encoder = get_store(), get_encoder()
    store.delete([uuid.UUID(lost_vector)])
    orphan = uuid.uuid4()
    store.upsert(
        encoder.collection_name,
        [VectorPoint(id=orphan, vector=np.ones(encoder.dim, dtype=np.float32))],
    )
    default_storage.delete(Image.objects.get(pk=lost_file).file.name)
    stray = default_storage.save("images/zz/stray.png", io.BytesIO(b"x"))
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("reconcile", stdout=out)

    text = out.getvalue()
    assert "re-queued 1 images" in text
    assert "removed 1 vectors" in text
    assert "1 images whose stored file is missing" in text
    assert f"orphan file: {stray}" in text
    ids = set(store.iter_ids(encoder.collection_name))
    assert uuid.UUID(lost_vector) in ids
    assert orphan not in ids
    assert Image.objects.get(pk=lost_vector).status == "indexed"
    assert Image.objects.get(pk=lost_file).status == "failed"

    again = io.StringIO()
    call_command("reconcile", "--dry-run", stdout=again)
    assert "re-queued 0 images" in again.getvalue()
    assert "removed 0 vectors" in again.getvalue()


def test_deleting_a_user_deletes_their_images_files_and_vectors(
    alice: Any,
    bob_api: Any,
    upload: Any,
    isolated_storage: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tests.factories import api_client

    alice_api = api_client(alice)
    upload(alice_api, image_bytes(picture((1, 2, 3))))
    upload(alice_api, image_bytes(picture((4, 5, 6))), visibility="public")
    kept = upload(bob_api, image_bytes(picture((7, 8, 9)))).json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        alice.delete()

    assert list(Image.objects.values_list("pk", flat=True)) == [uuid.UUID(kept)]
    assert len(stored_files(isolated_storage)) == 2  # bob's original + thumbnail
    assert set(get_store().iter_ids(get_encoder().collection_name)) == {uuid.UUID(kept)}
