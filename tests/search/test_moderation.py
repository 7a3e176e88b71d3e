"""Moderation mechanics, with thresholds that make the outcome independent of the model.

tests/search/test_semantic.py checks the same with a real concept and the demo model; the
video tests below screen a real rendered film with the demo model for a real concept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from encoder.clip import get_encoder
from gallery.models import Image, ModerationDecision, Video
from tests.factories import api_client, image_bytes, make_user, picture
from tests.support.moderation import split_moments, upload_crossing_video
from vectorstore import Filter, Match, get_store

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


# -- videos: a real rendered film, indexed with the demo model, one moment crossing a concept


@pytest.fixture
def crossing_video(
    alice_api: APIClient, post_video: Callable[..., Any], settings: Any, tmp_path: Path
) -> Video:
    return upload_crossing_video(alice_api, post_video, settings, tmp_path)


def test_queue_api_lists_a_flagged_video_with_kind_and_its_crossing_moments(
    crossing_video: Video, alice_api: Any, upload: Any, settings: Any
) -> None:
    crossed, calm = split_moments(crossing_video)
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}
    settings.MODERATION_QUERY_MARGIN = 10.0
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]
    staff = api_client(make_user("mod", is_staff=True))

    queue = staff.get("/api/moderation/").json()

    assert queue["count"] == 2
    video, image = queue["results"]  # oldest first
    assert (image["kind"], image["id"]) == ("image", image_id)
    assert "anything at all" in image["moderation_reason"]
    video_id = str(crossing_video.pk)
    assert (video["kind"], video["id"], video["filename"]) == ("video", video_id, "mixed.mp4")
    assert video["moderation_reason"] == crossing_video.moderation_reason
    assert video["duration"] == crossing_video.duration
    assert video["poster_url"].endswith(f"/api/videos/{video_id}/poster/")
    assert [(m["start"], m["end"], m["flagged"]) for m in video["moments"]] == [
        (m.start, m.end, m.flagged) for m in crossed
    ]
    for shown, moment in zip(video["moments"], crossed, strict=True):
        assert re.fullmatch(r"a red triangle \(0\.\d{3}\)", shown["flagged"])
        assert shown["thumbnail_url"] == (
            f"http://testserver/api/videos/{video_id}/moments/{moment.point_id}/thumbnail/"
        )
        assert shown["page_url"] == f"http://testserver/videos/{video_id}/?t={moment.start:.1f}"
    assert not {m.start for m in calm} & {m["start"] for m in video["moments"]}
    # The links work for the reviewer, though the video is someone else's and hidden.
    for url in (video["poster_url"], video["url"], video["moments"][0]["thumbnail_url"]):
        assert staff.get(url).status_code == 200, url


def test_review_api_decides_a_video_by_its_id_and_records_it(
    crossing_video: Video, bob_api: Any
) -> None:
    reviewer = make_user("mod", is_staff=True)
    staff = api_client(reviewer)
    collection = get_encoder().collection_name
    hidden = Filter(must=(Match("video", str(crossing_video.pk)), Match("hidden", 1)))

    rejected = staff.post(
        f"/api/moderation/{crossing_video.pk}/",
        {"decision": "reject", "reason": "no"},
        format="json",
    )

    assert rejected.status_code == 200
    body = rejected.json()
    assert (body["kind"], body["id"], body["moderation"]) == (
        "video",
        str(crossing_video.pk),
        "rejected",
    )
    assert body["moderation_reason"] == "no"
    assert get_store().count(collection, hidden) == crossing_video.moments_indexed
    assert bob_api.get(f"/api/videos/{crossing_video.pk}/").status_code == 404
    assert staff.get("/api/moderation/").json()["count"] == 0

    approved = staff.post(
        f"/api/moderation/{crossing_video.pk}/", {"decision": "approve"}, format="json"
    )

    assert approved.json()["moderation"] == "approved"
    assert get_store().count(collection, hidden) == 0
    assert bob_api.get(f"/api/videos/{crossing_video.pk}/").status_code == 200
    decisions = ModerationDecision.objects.filter(video=crossing_video, image=None)
    assert list(decisions.values_list("decision", "decided_by", "reason")) == [
        ("approved", reviewer.pk, ""),
        ("rejected", reviewer.pk, "no"),
        ("flagged", None, crossing_video.decisions.last().reason),  # type: ignore[union-attr]
    ]


def test_review_api_refuses_a_video_to_others_and_an_unknown_id(
    crossing_video: Video, alice_api: Any
) -> None:
    staff = api_client(make_user("mod", is_staff=True))

    owner = alice_api.post(
        f"/api/moderation/{crossing_video.pk}/", {"decision": "approve"}, format="json"
    )
    invalid = staff.post(
        f"/api/moderation/{crossing_video.pk}/", {"decision": "maybe"}, format="json"
    )
    unknown = staff.post(
        "/api/moderation/00000000-0000-0000-0000-000000000000/",
        {"decision": "approve"},
        format="json",
    )

    assert (owner.status_code, invalid.status_code, unknown.status_code) == (403, 400, 404)
    assert unknown.json()["error"]["code"] == "not_found"
    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "flagged"
    assert [d.decision for d in crossing_video.decisions.all()] == ["flagged"]  # screening's
