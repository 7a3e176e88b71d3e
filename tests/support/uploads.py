"""The upload property both mutation tests assert: never a 5xx; a refusal leaves nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.cache import cache
from hypothesis import event

from gallery.models import Image
from tests.conftest import stored_files


def assert_refused_cleanly_or_indexed(
    api: Any, upload: Callable[..., Any], storage: Path, data: bytes, filename: str, label: str
) -> None:
    """Upload `data`: a 201 that ends `indexed`, or a 4xx with a code and no row or file left."""
    cache.clear()  # The upload throttle would count every example, and answer 429.
    rows = set(Image.objects.values_list("pk", flat=True))
    files = set(stored_files(storage))

    response = upload(api, data, filename)

    assert response.status_code < 500, (label, response.content[:300])
    assert response.status_code != 429, "throttled: the property would hold vacuously"
    if response.status_code == 201:
        event(f"201 {label}")
        body = api.get(f"/api/images/{response.json()['id']}/").json()
        assert body["status"] == "indexed", (label, body)
        return
    event(f"{response.status_code} {response.json()['error']['code']}")
    assert 400 <= response.status_code < 500, (label, response.json())
    assert response.json()["error"]["code"], label
    assert set(Image.objects.values_list("pk", flat=True)) == rows, label
    assert set(stored_files(storage)) == files, label
