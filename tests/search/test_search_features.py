"""Search beyond plain text: composition, hybrid, negatives, paging, similar, classify,
tags, facets, duplicates, batches, the query cache and model changes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command

from encoder.clip import get_encoder, reset_encoder
from gallery.models import Image, VectorIndex
from search import querycache
from tests.factories import image_bytes, picture, upload_file
from tests.support.models import second_model

pytestmark = pytest.mark.django_db

SHAPES = ("circle", "square", "triangle")
COLOURS = ((220, 30, 30), (30, 160, 40), (30, 60, 220), (240, 200, 20))


def _library(client: Any, upload: Any, **fields: Any) -> dict[tuple[str, int], str]:
    ids = {}
    for shape in SHAPES:
        for i, colour in enumerate(COLOURS):
            data = image_bytes(picture(colour, shape=shape))
            ids[(shape, i)] = upload(client, data, f"{shape}-{i}.png", **fields).json()["id"]
    return ids


def _search(client: Any, **body: Any) -> Any:
    response = client.post("/api/search/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def _ids(body: Any) -> list[str]:
    return [r["image"]["id"] for r in body["results"]]


def test_paging_by_cursor_has_no_repeats_and_no_gaps(alice_api: Any, upload: Any) -> None:
    ids = _library(alice_api, upload)
    everything = _ids(_search(alice_api, query="shape", limit=100))
    assert len(everything) == len(ids)

    seen, cursor = [], None
    while True:
        body = _search(alice_api, query="shape", limit=5, **({"cursor": cursor} if cursor else {}))
        seen += _ids(body)
        cursor = body["next"]
        if cursor is None:
            break
    by_offset = [
        i
        for off in range(0, 12, 5)
        for i in _ids(_search(alice_api, query="shape", limit=5, offset=off))
    ]

    assert seen == everything
    assert by_offset == everything


def test_cursor_of_another_query_is_refused(alice_api: Any, upload: Any) -> None:
    _library(alice_api, upload)
    cursor = _search(alice_api, query="shape", limit=2)["next"]

    response = alice_api.post(
        "/api/search/", {"query": "other", "limit": 2, "cursor": cursor}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_min_score_drops_weaker_results(alice_api: Any, upload: Any) -> None:
    _library(alice_api, upload)
    scores = [
        r["score"]
        for r in _search(alice_api, mode="semantic", query="a red circle", limit=100)["results"]
    ]
    middle = len(scores) // 2
    cut = (scores[middle] + scores[middle + 1]) / 2

    kept = _search(alice_api, mode="semantic", query="a red circle", limit=100, min_score=cut)[
        "results"
    ]

    assert [r["score"] for r in kept] == [s for s in scores if s >= cut]


def test_similar_excludes_the_image_and_finds_its_copy_first(alice_api: Any, upload: Any) -> None:
    ids = _library(alice_api, upload)
    original = ids[("square", 2)]
    copy_id = upload(
        alice_api, image_bytes(picture(COLOURS[2], shape="square"), "JPEG", quality=90), "copy.jpg"
    ).json()["id"]

    body = alice_api.get(f"/api/images/{original}/similar/?top_k=5").json()

    assert original not in _ids(body)
    assert _ids(body)[0] == copy_id
    assert len(body["results"]) == 5
    assert set(body) == {"results", "next", "query_id"}


def test_text_weight_extremes_are_pure_text_and_pure_image(alice_api: Any, upload: Any) -> None:
    ids = _library(alice_api, upload)
    example = ids[("triangle", 1)]

    text_only = _ids(_search(alice_api, mode="semantic", query="a blue square", limit=12))
    image_only = _ids(_search(alice_api, mode="semantic", image_id=example, limit=12))
    all_text = _ids(
        _search(
            alice_api,
            mode="semantic",
            query="a blue square",
            image_id=example,
            text_weight=1.0,
            limit=12,
        )
    )
    all_image = _ids(
        _search(
            alice_api,
            mode="semantic",
            query="a blue square",
            image_id=example,
            text_weight=0.0,
            limit=12,
        )
    )

    assert all_text == text_only
    assert all_image == image_only


def test_composed_query_weights_its_terms(alice_api: Any, upload: Any) -> None:
    _library(alice_api, upload)

    first = _ids(
        _search(
            alice_api,
            query=[{"text": "red", "weight": 1}, {"text": "square", "weight": 0.001}],
            limit=12,
            mode="semantic",
        )
    )
    only_red = _ids(_search(alice_api, mode="semantic", query="red", limit=12))

    assert first == only_red


def test_negative_terms_change_the_ranking_by_each_strategy(
    alice_api: Any, upload: Any, settings: Any
) -> None:
    _library(alice_api, upload)
    plain = _search(alice_api, mode="semantic", query="circle", limit=12)

    for strategy in ("arithmetic", "best_score", "sum_scores"):
        settings.SEARCH_NEGATIVE_STRATEGY = strategy
        steered = _search(
            alice_api, mode="semantic", query="circle", negative=["red", "square"], limit=12
        )
        assert _ids(steered) != _ids(plain), strategy
        # Scores stay cosines to the positive query, whatever ranked them.
        plain_scores = {r["image"]["id"]: r["score"] for r in plain["results"]}
        for result in steered["results"]:
            assert result["score"] == pytest.approx(plain_scores[result["image"]["id"]], abs=1e-4)


def test_negative_image_ids_are_checked_for_access(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    secret = upload(alice_api, image_bytes(picture())).json()["id"]
    upload(bob_api, image_bytes(picture((0, 0, 0))))

    response = bob_api.post(
        "/api/search/", {"query": "x", "negative_image_ids": [secret]}, format="json"
    )
    by_example = bob_api.post("/api/search/", {"image_id": secret}, format="json")

    assert response.status_code == 400
    assert by_example.status_code == 400
    assert by_example.json()["error"]["code"] == "image_not_indexed"


def test_image_search_mixes_in_text_and_negatives(alice_api: Any, upload: Any) -> None:
    ids = _library(alice_api, upload)
    query = image_bytes(picture(COLOURS[0], shape="circle"))

    def post(**fields: Any) -> list[str]:
        body = {"file": upload_file(query), "limit": 12, **fields}
        response = alice_api.post("/api/search/image/", body, format="multipart")
        assert response.status_code == 200, response.json()
        return _ids(response.json())

    assert post()[0] == ids[("circle", 0)]
    assert post(query="a green square", text_weight=1.0) == _ids(
        _search(alice_api, query="a green square", limit=12)
    )
    assert post(negative='["red"]') != post()


def test_filters_by_visibility_tags_and_should(alice_api: Any, bob_api: Any, upload: Any) -> None:
    mine_private = upload(alice_api, image_bytes(picture())).json()["id"]
    mine_public = upload(alice_api, image_bytes(picture((0, 0, 250))), visibility="public").json()[
        "id"
    ]
    bobs_public = upload(bob_api, image_bytes(picture((0, 250, 0))), visibility="public").json()[
        "id"
    ]

    def ids(filters: Any) -> set[str]:
        return set(_ids(_search(alice_api, query="x", limit=50, filters=filters)))

    assert ids({"must": [{"key": "visibility", "match": {"value": "private"}}]}) == {mine_private}
    assert ids({"must": [{"key": "visibility", "match": {"value": "public"}}]}) == {
        mine_public,
        bobs_public,
    }
    assert ids(
        {
            "should": [
                {"key": "format", "match": {"value": "GIF"}},
                {"key": "width", "range": {"gte": 96}},
            ]
        }
    ) == {mine_private, mine_public, bobs_public}


def test_auto_tags_come_from_settings_and_admin_labels_and_are_filterable(
    alice_api: Any, upload: Any, settings: Any
) -> None:
    from gallery.models import TagLabel

    settings.AUTO_TAG_LABELS = ["red", "green", "blue"]
    settings.AUTO_TAG_MIN_PROBABILITY = 0.0
    TagLabel.objects.create(name="circle")
    TagLabel.objects.create(name="retired", active=False)
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    tags = alice_api.get(f"/api/images/{image_id}/").json()["tags"]

    assert len(tags) == settings.AUTO_TAG_MAX
    assert set(tags) <= {"red", "green", "blue", "circle"}
    found = _search(
        alice_api, query="x", filters={"must": [{"key": "tags", "match": {"any": tags[:1]}}]}
    )
    assert _ids(found) == [image_id]


def test_facets_count_formats_and_tags_of_the_result_set(
    alice_api: Any, upload: Any, settings: Any
) -> None:
    settings.AUTO_TAG_LABELS = ["red", "green"]
    settings.AUTO_TAG_MIN_PROBABILITY = 0.0
    settings.AUTO_TAG_MAX = 1
    upload(alice_api, image_bytes(picture((200, 0, 0))))
    upload(alice_api, image_bytes(picture((0, 200, 0))))
    upload(alice_api, image_bytes(picture((0, 0, 200)), "JPEG"), "c.jpg")

    body = _search(alice_api, query="x", facets=True)

    assert body["facets"]["format"] == {"PNG": 2, "JPEG": 1}
    assert sum(body["facets"]["tag"].values()) == 3
    assert set(body["facets"]["tag"]) <= {"red", "green"}


def test_classify_returns_probabilities_high_to_low(alice_api: Any, upload: Any) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]
    labels = ["red", "green", "blue", "circle"]

    by_id = alice_api.post(
        "/api/classify/", {"labels": labels, "image_id": image_id}, format="json"
    ).json()
    by_file = alice_api.post(
        "/api/classify/",
        {
            "labels": '["red", "green", "blue", "circle"]',
            "file": upload_file(image_bytes(picture())),
        },
        format="multipart",
    ).json()

    for body in (by_id, by_file):
        scores = [r["score"] for r in body["results"]]
        assert sorted(r["label"] for r in body["results"]) == sorted(labels)
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-4)
    assert by_id == by_file  # the same picture, stored or uploaded


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"labels": ["one"]}, "invalid_labels"),
        ({"labels": ["a", "b"]}, "invalid_image"),
        ({"labels": [str(i) for i in range(101)]}, "invalid_labels"),
    ],
)
def test_classify_validates_its_input(alice_api: Any, body: Any, code: str) -> None:
    response = alice_api.post("/api/classify/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_duplicates_are_the_users_own_images_above_the_threshold(
    alice_api: Any, bob_api: Any, upload: Any, settings: Any
) -> None:
    """Mechanics only (the untrained model finds everything alike); the demo model's
    test in test_semantic.py checks that a re-encoded copy, and only it, is found."""
    settings.DUPLICATE_THRESHOLD = -1.0
    mine = [upload(alice_api, image_bytes(picture((i * 60, 0, 0)))).json()["id"] for i in range(3)]
    upload(bob_api, image_bytes(picture((0, 0, 9))), visibility="public")

    found = alice_api.get(f"/api/images/{mine[0]}/duplicates/").json()["results"]
    groups = alice_api.get("/api/duplicates/").json()

    assert {r["image"]["id"] for r in found} == set(mine[1:])
    assert groups["count"] == 1
    assert {r["image"]["id"] for r in groups["groups"][0]} == set(mine)
    settings.DUPLICATE_THRESHOLD = 1.01
    assert alice_api.get(f"/api/images/{mine[0]}/duplicates/").json()["results"] == []
    assert alice_api.get("/api/duplicates/").json()["count"] == 0


def test_batch_search_answers_like_single_searches_with_one_text_batch(
    alice_api: Any, upload: Any
) -> None:
    ids = _library(alice_api, upload)
    searches = [
        {"query": "red"},
        {"query": "a blue square", "limit": 3},
        {"image_id": ids[("circle", 1)]},
    ]
    singles = [_ids(_search(alice_api, **s)) for s in searches]
    querycache.clear_local()
    from django.core.cache import cache

    cache.clear()
    encoder = get_encoder()
    with mock.patch.object(encoder, "encode_texts", wraps=encoder.encode_texts) as spy:
        response = alice_api.post("/api/search/batch/", {"searches": searches}, format="json")

    assert response.status_code == 200
    assert [_ids(page) for page in response.json()["results"]] == singles
    assert spy.call_count == 1


def test_batch_search_validates_each_search(alice_api: Any) -> None:
    response = alice_api.post(
        "/api/search/batch/", {"searches": [{"query": "x"}, {"top_k": 0}]}, format="json"
    )
    assert response.status_code == 400
    assert "Search 1" in response.json()["error"]["message"]
    too_many = alice_api.post(
        "/api/search/batch/", {"searches": [{"query": "x"}] * 33}, format="json"
    )
    assert too_many.status_code == 400


def test_identical_text_queries_reuse_the_cached_embedding(alice_api: Any, upload: Any) -> None:
    _library(alice_api, upload)
    encoder = get_encoder()
    first = _search(alice_api, query="a yellow triangle, cached")
    with mock.patch.object(encoder, "encode_texts", wraps=encoder.encode_texts) as spy:
        again = _search(alice_api, query="a yellow triangle, cached")
        querycache.clear_local()  # another process: only the shared cache has it
        from_shared = _search(alice_api, query="a yellow triangle, cached")

    assert spy.call_count == 0
    # (Cursors carry a signing timestamp, so compare the results.)
    assert first["results"] == again["results"] == from_shared["results"]


@pytest.mark.django_db(transaction=True)
def test_model_change_keeps_search_on_the_old_index_until_reindex_completes(
    alice_api: Any, settings: Any, tmp_path: Path
) -> None:
    def post(data: bytes) -> str:
        return alice_api.post(
            "/api/images/", {"file": upload_file(data)}, format="multipart"
        ).json()["id"]

    first = post(image_bytes(picture((200, 0, 0))))
    old = get_encoder()
    settings.CLIP_MODEL = str(second_model(tmp_path))
    try:
        # Before reindexing, search still reads the old model's collection...
        assert _ids(_search(alice_api, image_id=first, limit=5)) == [first]
        # ...and a new upload lands in both collections.
        second = post(image_bytes(picture((0, 200, 0))))
        assert set(_ids(_search(alice_api, query="x", limit=5))) == {first, second}
        assert VectorIndex.objects.get(state="active").collection == old.collection_name

        call_command("reindex", stdout=io.StringIO(), stderr=io.StringIO())

        new = get_encoder()
        assert new.dim == 24
        assert VectorIndex.objects.get(state="active").collection == new.collection_name
        assert VectorIndex.objects.get(collection=old.collection_name).state == "retired"
        assert set(Image.objects.values_list("model_id", flat=True)) == {"clip-second"}
        results = _search(alice_api, image_id=second, limit=5)["results"]
        assert results[0]["image"]["id"] == second
        assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    finally:
        settings.CLIP_MODEL = old.model_name
        reset_encoder()
