"""`index_folder` through the pipeline: resumable, throughput shown, memory-flat scanning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from encoder.clip import get_encoder
from gallery.bulk import folder_import
from gallery.importing import iter_image_files
from gallery.models import Image
from search.services import SearchRequest, TextTerm, search
from tests.factories import image_bytes, picture
from tests.support.capture import Capture
from tests.support.photos import require_ocr, words_picture
from vectorstore import EdgeStore, get_store, reset_store

pytestmark = pytest.mark.django_db(transaction=True)


def photo_folder(root: Path, count: int) -> Path:
    folder = root / "photos"
    folder.mkdir()
    for n in range(count):
        colour = (30 * n % 256, 200 - 20 * n, 60 + 15 * n)
        (folder / f"img-{n:02d}.jpg").write_bytes(
            image_bytes(picture(colour, (160 + n, 120)), "JPEG", quality=92)
        )
    return folder


def images_encoded() -> float:
    return REGISTRY.get_sample_value("clipsearch_encoder_batch_size_sum", {"kind": "image"}) or 0.0


@pytest.fixture
def small_batches() -> Iterator[None]:
    encoder = get_encoder()
    configured = encoder.batch_size
    encoder.batch_size = 2
    yield
    encoder.batch_size = configured


def test_an_interrupted_import_resumes_without_encoding_finished_images_again(
    alice: Any, tmp_path: Path, small_batches: None
) -> None:
    folder = photo_folder(tmp_path, 10)

    def interrupted(after: int) -> Iterator[Path]:
        for position, path in enumerate(iter_image_files(folder)):
            if position == after:
                raise KeyboardInterrupt
            yield path

    with pytest.raises(KeyboardInterrupt):
        folder_import(owner=alice, files=interrupted(after=8))
    finished = Image.objects.filter(status=Image.Status.INDEXED).count()
    assert 1 <= finished < 10
    assert Image.objects.count() == finished  # nothing half-written

    before = images_encoded()
    out = Capture()
    call_command("index_folder", str(folder), "--owner", "alice", stdout=out, stderr=Capture())

    assert images_encoded() - before == 10 - finished
    assert f"Imported {10 - finished} (indexed {10 - finished}), skipped {finished}" in out.text
    assert "images/s" in out.text
    assert Image.objects.filter(status=Image.Status.INDEXED).count() == 10
    assert get_store().count(get_encoder().collection_name) == 10


def test_rows_left_pending_by_an_outage_are_indexed_first_on_the_next_run(
    alice: Any, tmp_path: Path, settings: Any
) -> None:
    folder = photo_folder(tmp_path, 3)
    held = tmp_path / "held"
    holder = EdgeStore(str(held))  # another opener holds the embedded store
    holder.ensure_collection(get_encoder().collection_name, get_encoder().dim)
    configured = settings.VECTOR_STORE
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {"path": str(held)},
    }
    reset_store()
    try:
        with pytest.raises(CommandError, match="again to resume"):
            call_command("index_folder", str(folder), stdout=Capture(), stderr=Capture())
    finally:
        holder.close()
        settings.VECTOR_STORE = configured
        reset_store()
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.PENDING}

    out = Capture()
    call_command("index_folder", str(folder), stdout=out, stderr=Capture())

    assert "left pending by an earlier run" in out.text
    assert Image.objects.filter(status=Image.Status.INDEXED).count() == 3


def test_the_progress_bar_shows_a_total_and_a_rate(alice: Any, tmp_path: Path) -> None:
    folder = photo_folder(tmp_path, 3)
    err = Capture()

    call_command("index_folder", str(folder), stdout=Capture(), stderr=err)

    assert "3/3" in err.text
    assert "img/s" in err.text


def test_scanning_streams_every_image_of_a_big_tree(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(2000):
        (folder / f"{n:05d}.jpg").touch()
    (folder / "sub").mkdir()
    (folder / "sub" / "x.png").touch()

    files = iter_image_files(folder)

    assert next(files).suffix in {".jpg", ".png"}  # streams: the first file comes at once
    assert sum(1 for _ in files) == 2000


def test_an_import_reads_the_words_in_its_pictures_at_the_size_recognition_needs(
    alice: Any, tmp_path: Path
) -> None:
    require_ocr()
    folder = tmp_path / "signs"
    folder.mkdir()
    # A 3600x2400 JPEG is decoded at an eighth for the model and the thumbnail,
    # where its words are 20 pixels tall: the import decodes it again to read them.
    sign = words_picture(["PLATFORM 9", "TICKETS"], size=(3600, 2400), font_size=150)
    (folder / "station.jpg").write_bytes(image_bytes(sign, "JPEG", quality=90))
    (folder / "plain.jpg").write_bytes(image_bytes(picture((40, 90, 200), (640, 480)), "JPEG"))

    summary = folder_import(owner=alice, files=iter_image_files(folder))

    assert summary.indexed == 2
    station = Image.objects.get(original_filename="station.jpg")
    assert {"PLATFORM", "TICKETS"} <= set(station.recognised_text.split())
    assert station.text_indexed_at is not None
    assert Image.objects.get(original_filename="plain.jpg").recognised_text == ""
    found = search(
        user=alice, request=SearchRequest(texts=(TextTerm("tickets"),), mode="text")
    ).results
    assert [r.image.pk for r in found] == [station.pk]
