"""Reviewing a flagged video on the staff pages: the queue lists it with the moments that
crossed a concept, the review page approves or rejects it (recorded), and the reviewer may
open it (page, file, poster, moments) while nobody else gains access. A real rendered
video, indexed with the real demo CLIP model, through the real pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.test import Client
from rest_framework.test import APIClient

from core.errors import ApplicationError
from encoder.clip import get_encoder
from gallery.models import Image, ModerationDecision, Video, VideoMoment
from gallery.videos import video_review
from tests.factories import image_bytes, make_user, picture
from tests.support.moderation import clock, split_moments, upload_crossing_video
from vectorstore import Filter, Match, get_store

pytestmark = pytest.mark.django_db

QUEUE = "/staff/moderation/"


@pytest.fixture
def crossing_video(
    alice_api: APIClient, post_video: Callable[..., Any], settings: Any, tmp_path: Path
) -> Video:
    return upload_crossing_video(alice_api, post_video, settings, tmp_path)


@pytest.fixture
def reviewer() -> AbstractBaseUser:
    return make_user("reviewer", is_staff=True)


@pytest.fixture
def reviewer_page(reviewer: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.fixture
def bob_page(bob: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def queue_items(html: str) -> dict[str, str]:
    """The queue page's items, by the id of the image or video each reviews."""
    found = re.findall(r'<li class="card review" data-review="([^"]+)"(.*?)</form>', html, re.S)
    return dict(found)


def hidden_points(video: Video, hidden: int) -> int:
    scope = Filter(must=(Match("video", str(video.pk)), Match("hidden", hidden)))
    return get_store().count(get_encoder().collection_name, scope)


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_queue_lists_a_flagged_video_with_each_crossing_moment_beside_images(
    crossing_video: Video,
    alice_api: APIClient,
    upload: Any,
    settings: Any,
    reviewer_page: Client,
) -> None:
    crossed, calm = split_moments(crossing_video)
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}  # the next image is flagged
    settings.MODERATION_QUERY_MARGIN = 10.0
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]

    response = reviewer_page.get(QUEUE)

    assert response.status_code == 200
    html = response.content.decode()
    items = queue_items(html)
    video_id = str(crossing_video.pk)
    assert list(items) == [video_id, image_id]  # oldest upload first, both kinds
    item = items[video_id]
    assert 'data-kind="video"' in item
    assert "mixed.mp4" in item
    assert f'src="/api/videos/{video_id}/poster/"' in item
    assert '<time class="review__duration" datetime="PT4S" title="Length">0:04</time>' in item
    assert crossing_video.moderation_reason in item
    moments = re.findall(r'<li class="tile crossed-moment".*?</li>', item, re.S)
    assert len(moments) == len(crossed)
    for shown, moment in zip(moments, crossed, strict=True):
        assert f'href="/videos/{video_id}/?t={moment.start:.1f}"' in shown
        assert f'src="/api/videos/{video_id}/moments/{moment.point_id}/thumbnail/"' in shown
        assert f'<time class="crossed-moment__time">{clock(moment.start)}</time>' in shown
        assert re.search(r"a red triangle \(0\.\d{3}\)", shown)
        assert moment.flagged in shown
    for moment in calm:
        assert str(moment.point_id) not in html
        assert f"?t={moment.start:.1f}" not in html
    assert 'data-kind="image"' in items[image_id]
    assert 'name="decision" value="approve"' in item
    assert f'action="/staff/moderation/{video_id}/"' in item


def test_reviewer_approves_a_flagged_video_on_the_review_page_and_it_is_recorded(
    crossing_video: Video,
    reviewer: AbstractBaseUser,
    reviewer_page: Client,
    bob_page: Client,
) -> None:
    count = crossing_video.moments_indexed
    assert bob_page.get(f"/videos/{crossing_video.pk}/").status_code == 404

    response = reviewer_page.post(
        f"{QUEUE}{crossing_video.pk}/", {"decision": "approve", "reason": "a shape"}, follow=True
    )

    assert response.redirect_chain == [(QUEUE, 302)]
    assert f"{crossing_video} was approved." in response.content.decode()
    assert "Nothing is waiting for review" in response.content.decode()
    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "approved"
    assert crossing_video.moderation_reason == "a shape"
    assert (hidden_points(crossing_video, 0), hidden_points(crossing_video, 1)) == (count, 0)
    decision = ModerationDecision.objects.exclude(decided_by=None).get(video=crossing_video)
    assert (decision.image, decision.decision) == (None, "approved")
    assert (decision.decided_by, decision.reason) == (reviewer, "a shape")
    assert list(crossing_video.decisions.exclude(decided_by=None)) == [decision]
    assert crossing_video.decisions.get(decided_by=None).decision == "flagged"  # screening's
    assert bob_page.get(f"/videos/{crossing_video.pk}/").status_code == 200


def test_reviewer_rejects_a_flagged_video_and_it_stays_hidden(
    crossing_video: Video, reviewer_page: Client, bob_page: Client
) -> None:
    count = crossing_video.moments_indexed

    response = reviewer_page.post(f"{QUEUE}{crossing_video.pk}/", {"decision": "reject"})

    assert response.status_code == 302
    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "rejected"
    assert hidden_points(crossing_video, 1) == count
    assert crossing_video.decisions.exclude(decided_by=None).get().decision == "rejected"
    assert bob_page.get(f"/videos/{crossing_video.pk}/").status_code == 404
    assert str(crossing_video.pk) not in reviewer_page.get(QUEUE).content.decode()


def test_only_staff_review_a_video_on_the_review_page(
    crossing_video: Video, bob_page: Client, reviewer_page: Client
) -> None:
    assert bob_page.get(QUEUE).status_code == 403
    refused = bob_page.post(f"{QUEUE}{crossing_video.pk}/", {"decision": "approve"})
    unknown = reviewer_page.post(
        f"{QUEUE}00000000-0000-0000-0000-000000000000/", {"decision": "approve"}
    )

    assert refused.status_code == 403
    assert unknown.status_code == 404
    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "flagged"
    assert not crossing_video.decisions.exclude(decided_by=None).exists()


def test_reviewer_opens_the_flagged_video_its_file_poster_and_moments_others_get_404(
    crossing_video: Video, reviewer_page: Client, bob_page: Client
) -> None:
    crossed, _ = split_moments(crossing_video)
    moment = crossed[0]
    video_id = crossing_video.pk
    urls = {
        "page": f"/videos/{video_id}/?t={moment.start:.1f}",
        "file": f"/api/videos/{video_id}/file/",
        "poster": f"/api/videos/{video_id}/poster/",
        "moment": f"/api/videos/{video_id}/moments/{moment.point_id}/thumbnail/",
    }

    seen = {name: reviewer_page.get(url) for name, url in urls.items()}
    others = {name: bob_page.get(url).status_code for name, url in urls.items()}

    assert {name: r.status_code for name, r in seen.items()} == dict.fromkeys(urls, 200)
    page = seen["page"].content.decode()
    assert f'data-start="{moment.start:.2f}"' in page  # plays from the moment
    assert f'src="/api/videos/{video_id}/file/#t={moment.start:.2f}"' in page
    assert "Only its owner and staff see it until it is reviewed" in page
    assert "Only you can see it" not in page  # that is the owner's notice
    with crossing_video.file.open("rb") as stored:
        assert streamed(seen["file"]) == stored.read()
    assert streamed(seen["poster"])[:4] == b"RIFF"  # a WebP poster
    assert streamed(seen["moment"])[:4] == b"RIFF"
    assert others == dict.fromkeys(urls, 404)


def test_reviewer_gains_no_access_to_videos_moderation_does_not_hide(
    crossing_video: Video,
    alice_api: APIClient,
    reviewer_page: Client,
) -> None:
    """A reviewer opens what awaits review (or was rejected), not everyone's private videos."""
    private = Video.objects.create(
        owner=crossing_video.owner,
        file=crossing_video.file.name,
        poster=crossing_video.poster.name,
        sha256="0" * 64,
        original_filename="private.mp4",
        format="mp4",
        codec="h264",
        width=160,
        height=120,
        duration=4.0,
        frame_rate=12.0,
        size=1,
        visibility=Image.Visibility.PRIVATE,
    )
    for url in (
        f"/videos/{private.pk}/",
        f"/api/videos/{private.pk}/file/",
        f"/api/videos/{private.pk}/poster/",
    ):
        assert reviewer_page.get(url).status_code == 404, url
    assert alice_api.get(f"/api/videos/{private.pk}/poster/").status_code == 200


def test_video_review_shares_the_image_review_checks(
    crossing_video: Video, bob: AbstractBaseUser, reviewer: AbstractBaseUser
) -> None:
    with pytest.raises(ApplicationError) as not_staff:
        video_review(video=crossing_video, decision="approve", reviewer=bob)
    with pytest.raises(ApplicationError) as unknown:
        video_review(video=crossing_video, decision="maybe", reviewer=reviewer)

    assert (not_staff.value.code, not_staff.value.status) == ("forbidden", 403)
    assert (unknown.value.code, unknown.value.status) == ("invalid_decision", 400)
    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "flagged"
    assert not ModerationDecision.objects.exclude(decided_by=None).exists()


def test_a_decision_is_about_exactly_one_image_or_video(
    crossing_video: Video, alice: AbstractBaseUser
) -> None:
    image = Image.objects.create(
        owner=alice,
        file="images/1.png",
        sha256="1" * 64,
        format="PNG",
        width=1,
        height=1,
        mode="RGB",
        size=1,
    )
    for subject in ({}, {"image": image, "video": crossing_video}):
        with pytest.raises(IntegrityError), transaction.atomic():
            ModerationDecision.objects.create(decision="approved", **subject)

    ModerationDecision.objects.create(decision="approved", image=image)
    ModerationDecision.objects.create(decision="approved", video=crossing_video)
    assert ModerationDecision.objects.filter(decision="approved").count() == 2


def test_queue_page_queries_do_not_grow_with_rows(
    reviewer_page: Client, django_assert_max_num_queries: Any
) -> None:
    owners = [make_user(f"owner{i}") for i in range(4)]
    for n in range(12):
        video = Video.objects.create(
            owner=owners[n % 4],
            file=f"videos/{n}.mp4",
            sha256=f"{n:064x}",
            original_filename=f"video-{n}.mp4",
            format="mp4",
            codec="h264",
            width=160,
            height=120,
            duration=70.0,
            frame_rate=10.0,
            size=1000 + n,
            moderation=Image.Moderation.FLAGGED,
        )
        for start in (1.0, 65.4):
            video.moments.create(
                start=start,
                end=start + 2,
                point_id=VideoMoment.point_for(video.pk, start),
                flagged="a red triangle (0.250)",
            )
        Image.objects.create(
            owner=owners[n % 4],
            file=f"images/{n}.png",
            sha256=f"{n:064x}",
            format="PNG",
            width=1,
            height=1,
            mode="RGB",
            size=1,
            moderation=Image.Moderation.FLAGGED,
        )

    # Session, user, the two counts, the page's ids, its images, its videos and their
    # crossing moments: a fixed number, not one query per row, owner or moment.
    with django_assert_max_num_queries(8):
        response = reviewer_page.get(QUEUE)

    html = response.content.decode()
    assert len(queue_items(html)) == 24
    assert html.count('<li class="tile crossed-moment"') == 24
    assert html.count('<time class="crossed-moment__time">1:05</time>') == 12
