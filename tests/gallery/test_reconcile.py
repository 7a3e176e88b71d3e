from __future__ import annotations

import io
import itertools
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


def _rows_and_vectors(
    rows: int, *, without_vector: int, orphans: int
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """`rows` indexed images (no files: only rows and vectors are compared), all but
    `without_vector` with their vector, plus `orphans` vectors without a row.
    Returns (the rows without a vector, the orphan vectors)."""
    from tests.factories import make_user

    owner = make_user("bulk")
    ids = [uuid.uuid4() for _ in range(rows)]
    Image.objects.bulk_create(
        (
            Image(
                id=pk,
                owner=owner,
                file=f"images/{pk.hex[:2]}/{pk.hex}.png",
                sha256=pk.hex * 2,
                format="PNG",
                width=1,
                height=1,
                mode="RGB",
                size=1,
                status=Image.Status.INDEXED,
            )
            for pk in ids
        ),
        batch_size=5000,
    )
    store, encoder = get_store(), get_encoder()
    store.ensure_collection(encoder.collection_name, encoder.dim)
    lost = set(ids[:without_vector])
    stray = {uuid.uuid4() for _ in range(orphans)}
    vector = np.ones(encoder.dim, dtype=np.float32)
    points = [pk for pk in ids if pk not in lost] + sorted(stray)
    for start in range(0, len(points), 5000):
        store.upsert(
            encoder.collection_name,
            [VectorPoint(id=pk, vector=vector) for pk in points[start : start + 5000]],
        )
    return lost, stray


def test_reconcile_streams_100k_rows_and_vectors_in_bounded_memory() -> None:
    """Python's allocations stay a few chunks' worth: the old implementation, which held
    every id (a set, a dict and a 100k-parameter query), peaked far above the bound."""
    import tracemalloc

    from gallery.reconcile import reconcile_vectors

    lost, stray = _rows_and_vectors(100_000, without_vector=40, orphans=30)
    get_store().iter_ids(get_encoder().collection_name)  # the store opened outside the trace

    tracemalloc.start()
    try:
        report = reconcile_vectors()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (report.requeued, report.orphan_vectors_removed) == (40, 30)
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    ids = set(get_store().iter_ids(get_encoder().collection_name))
    assert not ids & stray
    assert set(Image.objects.filter(pk__in=lost).values_list("status", flat=True)) == {"pending"}


def test_reconcile_task_checks_each_id_range_as_a_task_of_its_own(
    settings: Any, monkeypatch: Any
) -> None:
    """The ranges cover every id once, in order; the chunk tasks together repair exactly
    what one pass over everything would."""
    from workers.tasks import reconcile_chunk_task, reconcile_task

    lost, stray = _rows_and_vectors(60, without_vector=7, orphans=5)
    settings.RECONCILE_CHUNK_ROWS = 10
    ranges: list[tuple[str | None, str | None]] = []
    repaired = {"requeued": 0, "orphans": 0}

    def run_chunk(start: str | None, stop: str | None) -> None:
        ranges.append((start, stop))
        result = reconcile_chunk_task.apply(args=(start, stop)).get()
        for key in repaired:
            repaired[key] += result[key]

    monkeypatch.setattr(reconcile_chunk_task, "delay", run_chunk)

    assert reconcile_task.apply().get() == 6  # ceil(60 rows / 10): more rows than vectors

    assert len(ranges) == 6
    assert ranges[0][0] is None
    assert ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    bounds = [uuid.UUID(stop) for _, stop in ranges[:-1] if stop]
    assert bounds == sorted(bounds)
    assert repaired == {"requeued": 7, "orphans": 5}
    assert not set(get_store().iter_ids(get_encoder().collection_name)) & stray
    assert set(Image.objects.filter(pk__in=lost).values_list("status", flat=True)) == {"pending"}


def test_a_store_scroll_from_an_id_starts_at_the_first_id_not_below_it() -> None:
    store, encoder = get_store(), get_encoder()
    store.ensure_collection(encoder.collection_name, encoder.dim)
    ids = sorted(uuid.uuid4() for _ in range(50))
    store.upsert(
        encoder.collection_name,
        [VectorPoint(id=pk, vector=np.ones(encoder.dim, dtype=np.float32)) for pk in ids],
    )
    middle = uuid.UUID(int=ids[20].int - 1)

    assert list(store.iter_ids(encoder.collection_name, batch=7)) == ids
    assert list(store.iter_ids(encoder.collection_name, batch=7, start=middle)) == ids[20:]
    assert list(store.iter_ids(encoder.collection_name, start=ids[20])) == ids[20:]
