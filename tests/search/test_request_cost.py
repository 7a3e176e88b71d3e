"""Nothing in the search path grows with the library: no counting, no query per result."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import image_bytes, picture

pytestmark = pytest.mark.django_db


def queries_for(client: Any, body: dict[str, Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/search/", body, format="json")
    assert response.status_code == 200, response.json()
    return len(captured.captured_queries)


def add_images(client: Any, upload: Any, start: int, count: int) -> str:
    image_id = ""
    for n in range(start, start + count):
        colour = (20 * n % 256, 255 - 15 * n % 256, 90 + 7 * n % 120)
        image_id = upload(client, image_bytes(picture(colour, (70 + n, 50)))).json()["id"]
    return image_id


def test_search_costs_the_same_queries_for_3_or_20_results(alice_api: Any, upload: Any) -> None:
    first = add_images(alice_api, upload, 0, 3)
    text = {"query": "a red circle", "limit": 50}
    by_image = {"image_id": first, "limit": 50}
    queries_for(alice_api, text)  # warm: the index row, the throttle's cache
    small = (queries_for(alice_api, text), queries_for(alice_api, by_image))

    add_images(alice_api, upload, 3, 17)
    large = (queries_for(alice_api, text), queries_for(alice_api, by_image))

    assert large == small
