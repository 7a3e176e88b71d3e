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


def test_a_worker_keeps_the_projects_log_format_and_context() -> None:
    """Celery's own logging setup, as a worker runs it at start, leaves LOGGING in place:
    its handlers would drop the JSON format and the request and image ids."""
    from clipsite.celery import app
    from core.logcontext import ContextFilter

    type(app.log)._setup = False  # type: ignore[attr-defined]  # as a fresh worker finds it
    app.log.setup(loglevel=logging.INFO)

    handlers = logging.getLogger().handlers
    assert any(isinstance(f, ContextFilter) for h in handlers for f in h.filters)
    formatter = handlers[0].formatter
    assert formatter is not None
    assert "%(request_id)s" in str(formatter._fmt)
