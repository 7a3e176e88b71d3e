from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import image_bytes, picture

pytestmark = pytest.mark.django_db


def _metrics(**extra: Any) -> Any:
    return Client().get("/metrics", **extra)


def test_metrics_record_requests_search_stages_and_indexing(alice_api: Any, upload: Any) -> None:
    upload(alice_api, image_bytes(picture()))
    alice_api.post("/api/search/", {"query": "a red circle"}, format="json")

    response = _metrics(REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    text = response.content.decode()
    assert (
        'clipsearch_request_seconds_count{endpoint="api:search",method="POST",status="200"}' in text
    )
    for stage in ("encode", "vector_query", "hydrate"):
        assert f'clipsearch_search_stage_seconds_count{{stage="{stage}"}}' in text
    assert "clipsearch_images_indexed_total" in text
    assert 'clipsearch_encoder_batch_size_count{kind="image"}' in text
    assert "clipsearch_model_load_seconds" in text
    assert "process_resident_memory_bytes" in text


def test_metrics_are_restricted(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret"

    assert _metrics(REMOTE_ADDR="203.0.113.9").status_code == 403
    assert _metrics(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert (
        _metrics(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    )
