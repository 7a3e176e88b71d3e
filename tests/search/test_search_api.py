from __future__ import annotations

from typing import Any

import pytest

from tests.factories import image_bytes, picture, upload_file

pytestmark = pytest.mark.django_db

SHAPES = ("circle", "square", "triangle")
COLOURS = ((220, 30, 30), (30, 160, 40), (30, 60, 220))


def _library(client: Any, upload: Any, **fields: Any) -> dict[tuple[str, int], str]:
    ids = {}
    for shape in SHAPES:
        for i, colour in enumerate(COLOURS):
            data = image_bytes(picture(colour, shape=shape))
            ids[(shape, i)] = upload(client, data, f"{shape}-{i}.png", **fields).json()["id"]
    return ids


def test_text_search_returns_scored_results_best_first(alice_api: Any, upload: Any) -> None:
    ids = _library(alice_api, upload)

    response = alice_api.post("/api/search/", {"query": "a red circle", "top_k": 5}, format="json")

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 5
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert {r["image"]["id"] for r in results} <= set(ids.values())
    assert set(results[0]["image"]) >= {"id", "url", "thumbnail_url", "filename", "status", "tags"}
    for result in results:  # each image its own links, absolute
        image = result["image"]
        assert image["url"] == f"http://testserver/api/images/{image['id']}/file/"
        assert image["thumbnail_url"] == f"http://testserver/api/images/{image['id']}/thumbnail/"


def test_search_by_image_returns_that_image_first(alice_api: Any, upload: Any) -> None:
    ids = _library(alice_api, upload)
    query = image_bytes(picture(COLOURS[1], shape="square"))

    response = alice_api.post(
        "/api/search/image/", {"file": upload_file(query), "top_k": 3}, format="multipart"
    )

    results = response.json()["results"]
    assert results[0]["image"]["id"] == ids[("square", 1)]
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)


def test_search_by_image_does_not_store_the_query(alice_api: Any, upload: Any) -> None:
    from gallery.models import Image

    _library(alice_api, upload)
    alice_api.post(
        "/api/search/image/",
        {"file": upload_file(image_bytes(picture((1, 2, 3))))},
        format="multipart",
    )
    assert Image.objects.count() == 9


def test_search_never_returns_other_users_private_images(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    alice_ids = set(_library(alice_api, upload).values())
    bob_public = upload(bob_api, image_bytes(picture((9, 9, 9))), visibility="public").json()["id"]
    bob_private = upload(bob_api, image_bytes(picture((250, 250, 0)))).json()["id"]

    text = bob_api.post("/api/search/", {"query": "circle", "top_k": 100}, format="json")
    by_image = bob_api.post(
        "/api/search/image/",
        {"file": upload_file(image_bytes(picture(COLOURS[0]))), "top_k": 100},
        format="multipart",
    )

    for response in (text, by_image):
        found = {r["image"]["id"] for r in response.json()["results"]}
        assert found == {bob_public, bob_private}
        assert not found & alice_ids


def test_search_filters_by_format_and_date(alice_api: Any, upload: Any) -> None:
    png = upload(alice_api, image_bytes(picture((200, 0, 0)))).json()["id"]
    jpeg = upload(alice_api, image_bytes(picture((0, 200, 0)), "JPEG"), "a.jpg").json()["id"]

    def search(filters: Any) -> set[str]:
        body = {"query": "anything", "top_k": 10, "filters": filters}
        response = alice_api.post("/api/search/", body, format="json")
        assert response.status_code == 200, response.json()
        return {r["image"]["id"] for r in response.json()["results"]}

    assert search({"must": [{"key": "format", "match": {"value": "jpeg"}}]}) == {jpeg}
    assert search({"must_not": [{"key": "format", "match": {"value": "JPEG"}}]}) == {png}
    assert search({"must": [{"key": "timestamp", "range": {"gte": "2000-01-01"}}]}) == {png, jpeg}
    assert search({"must": [{"key": "timestamp", "range": {"lte": "2001-12-31"}}]}) == set()
    assert search({"must": [{"key": "width", "range": {"gte": 96, "lte": 96}}]}) == {png, jpeg}


@pytest.mark.parametrize(
    "filters",
    [
        {"must": [{"key": "owner", "match": {"value": "1"}}]},
        {"must": [{"key": "visibility", "range": {"gte": 1}}]},
        {"must": [{"key": "format", "range": {"gte": 1}}]},
        {"must": [{"key": "timestamp", "range": {"gte": "last tuesday"}}]},
        {"must": {"key": "format"}},
        {"sometimes": []},
        ["not", "an", "object"],
    ],
)
def test_malformed_or_disallowed_filters_are_a_400(alice_api: Any, filters: Any) -> None:
    response = alice_api.post("/api/search/", {"query": "x", "filters": filters}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_filter", "invalid"}
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": ""}, "invalid"),
        ({"query": "x", "top_k": 0}, "invalid"),
        ({"query": "x", "top_k": 101}, "invalid"),
        ({"query": "x", "offset": -1}, "invalid"),
        ({"query": [{"text": "x", "weight": -1}]}, "invalid"),
        ({}, "empty_query"),
        ({"negative": ["red"]}, "negative_only_query"),
        ({"query": "x", "cursor": "forged"}, "invalid_cursor"),
        ({"image_id": "00000000-0000-0000-0000-000000000000"}, "image_not_indexed"),
    ],
)
def test_bad_search_requests_are_a_400(alice_api: Any, body: Any, code: str) -> None:
    response = alice_api.post("/api/search/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_search_requires_authentication(db: None) -> None:
    from rest_framework.test import APIClient

    response = APIClient().post("/api/search/", {"query": "x"}, format="json")
    assert response.status_code == 401


def test_search_by_corrupt_image_is_a_400(alice_api: Any) -> None:
    response = alice_api.post(
        "/api/search/image/", {"file": upload_file(b"GIF89a broken")}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"corrupt_image", "not_an_image"}
