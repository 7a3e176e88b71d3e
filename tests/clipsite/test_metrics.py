from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from gallery.models import Image
from tests.factories import image_bytes, picture

pytestmark = pytest.mark.django_db


def _metrics(**extra: Any) -> Any:
    return Client().get("/metrics", **extra)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape() -> Samples:
    """Every sample /metrics serves, by name and labels."""
    response = _metrics(REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_record_requests_search_stages_and_indexing(alice_api: Any, upload: Any) -> None:
    # Every metric is printed (at 0) once it is registered, so each is read
    # before and after: the upload and the search must be what moved it.
    before = _scrape()

    uploaded = upload(alice_api, image_bytes(picture()))
    searched = alice_api.post("/api/search/", {"query": "a red circle"}, format="json")

    after = _scrape()

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert uploaded.status_code == 201
    assert Image.objects.get(pk=uploaded.json()["id"]).status == Image.Status.INDEXED
    assert searched.status_code == 200
    search = {"endpoint": "api:search", "method": "POST", "status": "200"}
    assert grew("clipsearch_request_seconds_count", **search) == 1
    assert grew("clipsearch_request_seconds_sum", **search) > 0
    for stage in ("encode", "vector_query", "hydrate"):
        assert grew("clipsearch_search_stage_seconds_count", stage=stage) >= 1, stage
    assert grew("clipsearch_images_indexed_total") == 1
    assert grew("clipsearch_index_seconds_count") == 1
    assert grew("clipsearch_index_seconds_sum") > 0
    # The image went through the image tower (a model loaded now also warms it up).
    assert grew("clipsearch_encoder_batch_size_count", kind="image") >= 1
    assert grew("clipsearch_encoder_batch_size_sum", kind="image") >= 1
    assert grew("clipsearch_index_failures_total") == 0
    # Set once per process when the model loads (perhaps by an earlier test).
    loads = [v for (name, _), v in after.items() if name == "clipsearch_model_load_seconds"]
    assert loads
    assert all(v > 0 for v in loads)
    assert _value(after, "process_resident_memory_bytes") > 0


def test_metrics_are_restricted(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret"

    assert _metrics(REMOTE_ADDR="203.0.113.9").status_code == 403
    assert _metrics(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert (
        _metrics(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    )
