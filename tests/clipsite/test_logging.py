from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.factories import image_bytes, picture, upload_file

pytestmark = pytest.mark.django_db


def test_request_id_and_image_id_follow_an_upload_into_its_task(
    alice_api: Any, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.INFO)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            "/api/images/",
            {"file": upload_file(image_bytes(picture()))},
            format="multipart",
            HTTP_X_REQUEST_ID="req-4711",
        )
    image_id = response.json()["id"]

    assert response["X-Request-ID"] == "req-4711"
    indexed = [r for r in caplog.records if r.getMessage().startswith("Indexed image")]
    assert len(indexed) == 1
    assert indexed[0].request_id == "req-4711"  # type: ignore[attr-defined]
    assert indexed[0].image_id == image_id  # type: ignore[attr-defined]


def test_a_request_without_an_id_gets_one_and_unsafe_ids_are_replaced(alice_api: Any) -> None:
    plain = alice_api.get("/api/images/")
    hostile = alice_api.get("/api/images/", HTTP_X_REQUEST_ID="evil\nheader: injected")

    assert len(plain["X-Request-ID"]) == 32
    assert "\n" not in hostile["X-Request-ID"]
    assert len(hostile["X-Request-ID"]) == 32
