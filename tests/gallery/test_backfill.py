"""manage.py backfill_text: images indexed before text search get their text side."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from gallery.models import Image
from tests.factories import image_bytes
from tests.support.photos import (
    LISBON,
    as_before_text_search,
    camera_exif,
    require_ocr,
    words_picture,
)

pytestmark = pytest.mark.django_db


def _search(client: Any, query: str) -> list[str]:
    response = client.post("/api/search/", {"query": query, "mode": "text"}, format="json")
    assert response.status_code == 200, response.json()
    return [r["image"]["id"] for r in response.json()["results"]]


def test_backfill_recognises_reads_exif_and_fills_the_store(
    settings: Any, alice_api: Any, upload: Any
) -> None:
    require_ocr()
    settings.OCR_ENABLED = False
    sign = upload(alice_api, image_bytes(words_picture(["HOTEL"])), "a.png").json()["id"]
    exif = camera_exif(make="Canon", model="Canon EOS R5", position=LISBON)
    photo = upload(alice_api, image_bytes(words_picture([""]), "JPEG", exif=exif), "b.jpg")
    photo_id = photo.json()["id"]
    as_before_text_search(photo_id)
    assert _search(alice_api, "lisbon") == []
    call_command("backfill_text", "--without-ocr", stdout=io.StringIO(), stderr=io.StringIO())
    assert _search(alice_api, "lisbon") == [photo_id]
    assert _search(alice_api, "hotel") == []
    assert Image.objects.get(pk=sign).text_indexed_at is None  # still to be recognised

    settings.OCR_ENABLED = True
    out = io.StringIO()
    call_command("backfill_text", stdout=out, stderr=io.StringIO())

    assert "Backfilled 2 of 2" in out.getvalue()
    row = Image.objects.get(pk=sign)
    assert "HOTEL" in row.recognised_text
    assert row.text_indexed_at is not None
    assert _search(alice_api, "hotel") == [sign]
    photo_row = Image.objects.get(pk=photo_id)
    assert (photo_row.camera, photo_row.place_city) == ("Canon EOS R5", "Lisbon")

    # Resumable: a rerun finds nothing left to do.
    again = io.StringIO()
    call_command("backfill_text", stdout=again, stderr=io.StringIO())
    assert "Backfilled 0 of 0" in again.getvalue()


def test_backfill_refuses_to_run_without_the_engine_unless_told(settings: Any) -> None:
    settings.OCR_ENABLED = False
    with pytest.raises(CommandError, match="--without-ocr"):
        call_command("backfill_text", stdout=io.StringIO(), stderr=io.StringIO())
