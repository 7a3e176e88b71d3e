"""Moderation mechanics, with thresholds that make the outcome independent of the model.

tests/search/test_semantic.py checks the same with a real concept and the demo model.
"""

from __future__ import annotations

from typing import Any

import pytest

from gallery.models import Image, ModerationDecision
from tests.factories import api_client, image_bytes, make_user, picture

pytestmark = pytest.mark.django_db


def _ids(response: Any) -> set[str]:
    return {r["image"]["id"] for r in response.json()["results"]}


def test_flagged_public_image_is_hidden_from_others_until_approved(
    alice_api: Any, bob_api: Any, upload: Any, settings: Any
) -> None:
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}  # every image matches
    settings.MODERATION_QUERY_MARGIN = 10.0  # but no query does
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]
    image = Image.objects.get(pk=image_id)
    assert image.moderation == "flagged"
    assert "anything at all" in image.moderation_reason
    assert ModerationDecision.objects.get(image=image).decided_by is None

    assert bob_api.get(f"/api/images/{image_id}/").status_code == 404
    bob_search = bob_api.post("/api/search/", {"query": "x", "limit": 100}, format="json")
    assert image_id not in _ids(bob_search)
    owner_view = alice_api.get(f"/api/images/{image_id}/").json()
    assert owner_view["flagged"] is True

    staff = api_client(make_user("mod", is_staff=True))
    queue = staff.get("/api/moderation/").json()
    assert [item["id"] for item in queue["results"]] == [image_id]
    approved = staff.post(
        f"/api/moderation/{image_id}/", {"decision": "approve", "reason": "fine"}, format="json"
    )

    assert approved.status_code == 200
    assert approved.json()["moderation"] == "approved"
    assert image_id in _ids(
        bob_api.post("/api/search/", {"query": "x", "limit": 100}, format="json")
    )
    assert bob_api.get(f"/api/images/{image_id}/").status_code == 200
    decisions = list(
        ModerationDecision.objects.filter(image=image).values_list("decision", "reason")
    )
    assert decisions == [("approved", "fine"), ("flagged", image.moderation_reason)]


def test_rejected_image_stays_hidden_and_reindexing_does_not_unflag(
    alice_api: Any,
    bob_api: Any,
    upload: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}
    settings.MODERATION_QUERY_MARGIN = 10.0
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]
    staff = api_client(make_user("mod", is_staff=True))

    staff.post(
        f"/api/moderation/{image_id}/", {"decision": "reject", "reason": "no"}, format="json"
    )
    with django_capture_on_commit_callbacks(execute=True):
        alice_api.post(f"/api/images/{image_id}/reindex/")

    assert Image.objects.get(pk=image_id).moderation == "rejected"
    assert image_id not in _ids(
        bob_api.post("/api/search/", {"query": "x", "limit": 100}, format="json")
    )


def test_only_staff_see_and_decide_the_queue(alice_api: Any) -> None:
    assert alice_api.get("/api/moderation/").status_code == 403
    response = alice_api.post(
        "/api/moderation/00000000-0000-0000-0000-000000000000/",
        {"decision": "approve"},
        format="json",
    )
    assert response.status_code == 403


def test_unflagged_images_are_untouched(
    alice_api: Any, bob_api: Any, upload: Any, settings: Any
) -> None:
    settings.MODERATION_CONCEPTS = {"nothing ever": 1.0}  # no image reaches cosine 1
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]

    assert Image.objects.get(pk=image_id).moderation == ""
    assert image_id in _ids(
        bob_api.post("/api/search/", {"query": "x", "limit": 100}, format="json")
    )


def test_blocklisted_and_unsafe_queries_are_rejected(alice_api: Any, settings: Any) -> None:
    settings.MODERATION_QUERY_BLOCKLIST = ["forbidden"]

    blocked = alice_api.post("/api/search/", {"query": "something Forbidden here"}, format="json")
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}
    unsafe = alice_api.post("/api/search/", {"query": "a harmless phrase"}, format="json")
    concept_matches_too = alice_api.post(
        "/api/search/", {"query": "x", "negative": ["forbidden"]}, format="json"
    )

    for response in (blocked, unsafe):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "query_rejected"
    # The concept matches "x" too, so this is refused whatever its negative says.
    assert concept_matches_too.status_code == 400
    settings.MODERATION_CONCEPTS = {}
    assert (
        alice_api.post(
            "/api/search/", {"query": "x", "negative": ["forbidden"]}, format="json"
        ).status_code
        == 200
    )
