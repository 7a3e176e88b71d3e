"""Feedback on search results through the API, with the real demo CLIP model: every search
response names its results in a signed query id; marks and opens of those results are kept
once per user, query and item, and only for as long as the retention says."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.core import signing
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from search.models import Feedback
from search.queryids import QUERY_ID_SALT, query_id_loads
from tests.factories import image_bytes, picture, upload_file
from tests.support.videos import captioned_film

pytestmark = pytest.mark.django_db

FEEDBACK = "/api/search/feedback/"
SHAPES = ("circle", "square", "triangle")
COLOURS = ((220, 30, 30), (30, 160, 40), (30, 60, 220))


def _library(client: APIClient, upload: Any) -> list[str]:
    return [
        upload(client, image_bytes(picture(colour, shape=shape)), f"{shape}-{i}.png").json()["id"]
        for shape in SHAPES
        for i, colour in enumerate(COLOURS)
    ]


def _search(client: APIClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/search/", {"query": "a red circle", **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _ids(page: dict[str, Any]) -> list[str]:
    return [(r.get("image") or r.get("video"))["id"] for r in page["results"]]


def _mark(client: APIClient, **body: Any) -> Any:
    return client.post(FEEDBACK, body, format="json")


def test_every_search_response_names_its_results_in_a_query_id(
    alice: Any, alice_api: APIClient, upload: Any
) -> None:
    ids = _library(alice_api, upload)
    first = _search(alice_api, limit=4, mode="semantic")
    second = _search(alice_api, limit=4, mode="semantic", cursor=first["next"])
    by_image = alice_api.post(
        "/api/search/image/",
        {"file": upload_file(image_bytes(picture(COLOURS[1], shape="square"))), "limit": 3},
        format="multipart",
    ).json()
    batch = alice_api.post(
        "/api/search/batch/", {"searches": [{"query": "square"}, {"query": "blue"}]}, format="json"
    ).json()["results"]
    similar = alice_api.get(f"/api/images/{ids[0]}/similar/?top_k=5").json()

    for page in (first, second, by_image, *batch, similar):
        query = query_id_loads(page["query_id"])
        assert [str(r.id) for r in query.results] == _ids(page)
        assert {r.kind for r in query.results} == {"image"}
        assert query.user_id == str(alice.pk)
        assert query.collection.startswith("images-demo-clip-shapes-")
    one, two = query_id_loads(first["query_id"]), query_id_loads(second["query_id"])
    # Ranks run across pages; the two pages are one query.
    assert [r.rank for r in one.results] == [1, 2, 3, 4]
    assert [r.rank for r in two.results] == [5, 6, 7, 8]
    assert one.fingerprint == two.fingerprint
    assert one.mode == "semantic"
    assert query_id_loads(by_image["query_id"]).mode == "semantic"
    assert query_id_loads(_search(alice_api, mode="hybrid")["query_id"]).mode == "hybrid"
    # Opaque, and compact: a page of 100 results stays well under 3 KB.
    assert "circle" not in first["query_id"]
    assert len(_search(alice_api, limit=100)["query_id"]) < 3000


def test_a_mark_is_recorded_with_its_rank_and_a_repeat_updates_the_one_row(
    alice: Any, alice_api: APIClient, upload: Any
) -> None:
    _library(alice_api, upload)
    page = _search(alice_api, limit=5, mode="semantic")
    third = _ids(page)[2]

    marked = _mark(alice_api, query_id=page["query_id"], image_id=third, relevant=True)
    assert marked.status_code == 200, marked.content
    assert marked.json() | {"updated_at": None} == {
        "kind": "image",
        "item_id": third,
        "rank": 3,
        "relevant": True,
        "opened": False,
        "collection": query_id_loads(page["query_id"]).collection,
        "mode": "semantic",
        "updated_at": None,
    }
    _mark(alice_api, query_id=page["query_id"], image_id=third, relevant=False)
    _mark(alice_api, query_id=page["query_id"], image_id=third, opened=True)
    # The same query searched again names the same row.
    again = _search(alice_api, limit=5, mode="semantic")
    final = _mark(alice_api, query_id=again["query_id"], image_id=third, opened=True)

    row = Feedback.objects.get()
    assert (row.user_id, row.rank, row.relevant, row.opened) == (alice.pk, 3, False, True)
    assert row.query == query_id_loads(page["query_id"]).fingerprint
    assert final.json()["relevant"] is False
    # An open first, then a mark: both facts kept.
    fourth = _ids(page)[3]
    _mark(alice_api, query_id=page["query_id"], image_id=fourth, opened=True)
    _mark(alice_api, query_id=page["query_id"], image_id=fourth, relevant=True)
    assert Feedback.objects.filter(item_id=fourth, opened=True, relevant=True).count() == 1


def test_feedback_on_a_result_the_search_did_not_show_is_unknown_result(
    alice_api: APIClient, upload: Any
) -> None:
    ids = _library(alice_api, upload)
    page = _search(alice_api, limit=3, mode="semantic")
    not_shown = next(i for i in ids if i not in _ids(page))

    for body in (
        {"image_id": not_shown, "relevant": True},
        {"image_id": str(uuid4()), "opened": True},
        # A video id naming an image that was shown is still not a video result.
        {"video_id": _ids(page)[0], "relevant": True},
    ):
        response = _mark(alice_api, query_id=page["query_id"], **body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "unknown_result"
    assert not Feedback.objects.exists()


def test_a_tampered_or_foreign_query_id_is_a_400_with_a_code(
    alice: Any, alice_api: APIClient, upload: Any
) -> None:
    _library(alice_api, upload)
    page = _search(alice_api, limit=3)
    token, shown = page["query_id"], _ids(page)[0]
    payload = signing.loads(token, salt=QUERY_ID_SALT)
    unsigned = signing.dumps(payload, salt="search.cursor", compress=True)  # another salt
    flipped = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    for bad in (flipped, token[:40], "nonsense", unsigned, page["next"]):
        response = _mark(alice_api, query_id=bad, image_id=shown, relevant=True)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_query_id"
    assert not Feedback.objects.exists()


def test_bad_feedback_bodies_are_400s_with_stable_codes(alice_api: APIClient, upload: Any) -> None:
    _library(alice_api, upload)
    page = _search(alice_api, limit=3)
    shown = _ids(page)[0]

    cases = {
        "item_required": {"relevant": True},
        "nothing_to_record": {"image_id": shown},
        "invalid": {"image_id": "not-a-uuid", "relevant": True},
    }
    for code, body in cases.items():
        response = _mark(alice_api, query_id=page["query_id"], **body)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    both = _mark(alice_api, query_id=page["query_id"], image_id=shown, video_id=shown, opened=True)
    assert both.json()["error"]["code"] == "item_required"
    missing = _mark(alice_api, image_id=shown, relevant=True)
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "invalid")


def test_an_old_query_id_is_expired(alice_api: APIClient, upload: Any, settings: Any) -> None:
    _library(alice_api, upload)
    page = _search(alice_api, limit=3)
    settings.FEEDBACK_RETENTION_DAYS = 1
    later = timezone.now().timestamp() + 2 * 86400
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("time.time", lambda: later)
        response = _mark(alice_api, query_id=page["query_id"], image_id=_ids(page)[0], opened=True)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "expired_query_id")


def test_another_users_query_id_is_a_404(
    alice_api: APIClient, bob_api: APIClient, upload: Any
) -> None:
    ids = _library(alice_api, upload)
    upload(bob_api, image_bytes(picture((200, 20, 20))), visibility="public")
    page = _search(alice_api, limit=3)

    response = _mark(bob_api, query_id=page["query_id"], image_id=_ids(page)[0], relevant=True)
    forget = bob_api.delete(f"{FEEDBACK}?query_id={page['query_id']}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert forget.status_code == 404
    assert not Feedback.objects.exists()
    assert ids  # alice's library was searched
    assert APIClient().post(FEEDBACK, {}, format="json").status_code == 401


def test_feedback_on_a_video_result_names_the_video(
    alice_api: APIClient, post_video: Callable[..., Any], tmp_path: Path
) -> None:
    data, captions = captioned_film(tmp_path / "film.mp4")
    video = post_video(alice_api, data).json()
    page = _search(alice_api, query=captions[1], mode="semantic")
    assert _ids(page) == [video["id"]]
    assert query_id_loads(page["query_id"]).results[0].kind == "video"

    as_image = _mark(alice_api, query_id=page["query_id"], image_id=video["id"], relevant=True)
    marked = _mark(alice_api, query_id=page["query_id"], video_id=video["id"], relevant=True)

    assert as_image.json()["error"]["code"] == "unknown_result"
    assert marked.status_code == 200
    row = Feedback.objects.get()
    assert (row.kind, str(row.item_id), row.rank, row.relevant) == ("video", video["id"], 1, True)


def test_feedback_is_rate_limited(
    alice_api: APIClient, upload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _library(alice_api, upload)
    page = _search(alice_api, limit=3)
    # DRF reads its rates once, at import.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "feedback": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)

    codes = [
        _mark(alice_api, query_id=page["query_id"], image_id=_ids(page)[0], opened=True)
        for _ in range(4)
    ]

    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert codes[-1].json()["error"]["code"] == "throttled"
    assert "Retry-After" in codes[-1].headers


def test_a_user_deletes_one_searchs_feedback_or_all_of_it(
    alice_api: APIClient, bob_api: APIClient, upload: Any
) -> None:
    _library(alice_api, upload)
    upload(bob_api, image_bytes(picture((200, 20, 20))), visibility="public")
    red = _search(alice_api, limit=3)
    blue = _search(alice_api, query="a blue square", limit=3)
    bobs = _search(bob_api, limit=3)
    for page in (red, blue):
        for shown in _ids(page):
            _mark(alice_api, query_id=page["query_id"], image_id=shown, relevant=True)
    _mark(bob_api, query_id=bobs["query_id"], image_id=_ids(bobs)[0], relevant=True)

    one = alice_api.delete(f"{FEEDBACK}?query_id={blue['query_id']}")
    assert (one.status_code, one.json()) == (200, {"deleted": 3})
    assert Feedback.objects.filter(user__username="alice").count() == 3
    rest = alice_api.delete(FEEDBACK)
    assert rest.json() == {"deleted": 3}
    assert list(Feedback.objects.values_list("user__username", flat=True)) == ["bob"]
    tampered = alice_api.delete(f"{FEEDBACK}?query_id=nonsense")
    assert tampered.json()["error"]["code"] == "invalid_query_id"


def test_deleting_a_user_deletes_their_feedback(
    alice: Any, alice_api: APIClient, bob_api: APIClient, upload: Any
) -> None:
    _library(alice_api, upload)
    upload(bob_api, image_bytes(picture((200, 20, 20))), visibility="public")
    for client in (alice_api, bob_api):
        page = _search(client, limit=3)
        _mark(client, query_id=page["query_id"], image_id=_ids(page)[0], relevant=True)
    assert Feedback.objects.count() == 2
    alice_id = alice.pk

    alice.delete()

    assert not Feedback.objects.filter(user_id=alice_id).exists()
    assert list(Feedback.objects.values_list("user__username", flat=True)) == ["bob"]
    assert Feedback.objects.count() == 1


def test_the_maintenance_task_prunes_feedback_older_than_the_retention(
    alice_api: APIClient, upload: Any, settings: Any
) -> None:
    from workers.tasks import feedback_prune_task

    _library(alice_api, upload)
    page = _search(alice_api, limit=3)
    old, recent, fresh = _ids(page)
    for shown in (old, recent, fresh):
        _mark(alice_api, query_id=page["query_id"], image_id=shown, relevant=True)
    now = timezone.now()
    Feedback.objects.filter(item_id=old).update(updated_at=now - timedelta(days=31))
    Feedback.objects.filter(item_id=recent).update(updated_at=now - timedelta(days=29))
    settings.FEEDBACK_RETENTION_DAYS = 30

    assert feedback_prune_task.delay().get() == 1
    assert feedback_prune_task.delay().get() == 0  # idempotent

    assert sorted(str(i) for i in Feedback.objects.values_list("item_id", flat=True)) == sorted(
        [recent, fresh]
    )
