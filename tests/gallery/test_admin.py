from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from rest_framework.test import APIClient

from encoder.clip import get_encoder
from gallery.models import Image, ModerationDecision, Video, VideoMoment
from tests.factories import api_client, image_bytes, make_user, picture
from tests.support.moderation import split_moments, upload_crossing_video
from vectorstore import Filter, Match, get_store

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/gallery/image/"


def row(owner: AbstractBaseUser, n: int, **fields: Any) -> Image:
    """An image row without files or a vector: enough for the changelist."""
    return Image.objects.create(
        owner=owner,
        file=f"images/{n}.png",
        thumbnail=f"thumbnails/{n}.webp",
        sha256=f"{n:064x}",
        original_filename=f"picture-{n}.png",
        format="PNG",
        width=640,
        height=480,
        mode="RGB",
        size=1000 + n,
        **fields,
    )


def test_changelist_has_previews_filters_and_search(
    admin_client: Client, alice: Any, bob: Any
) -> None:
    image = row(alice, 1)
    row(bob, 2)  # a filter shows once there is a choice to make

    response = admin_client.get(CHANGELIST, {"q": "picture-1"})

    html = response.content.decode()
    assert response.status_code == 200
    assert f'src="/admin/gallery/image/{image.pk}/thumbnail/"' in html
    assert "640 \N{MULTIPLICATION SIGN} 480" in html
    for title in ("By status", "By moderation", "By format", "By visibility", "By owner"):
        assert title in html
    assert "picture-1.png" in html
    assert "Index selected images again" in html
    assert "Make selected images private" in html


def test_changelist_queries_do_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    owners = [make_user(f"owner{i}") for i in range(5)]
    for n in range(40):
        row(owners[n % 5], n)

    # Session, user, counts, the page of rows with their owners, and the filters'
    # choices: a fixed number, not one query per row or per owner.
    with django_assert_max_num_queries(8):
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert response.content.decode().count('class="image-preview"') == 40


def test_change_form_shows_read_only_computed_fields(admin_client: Client, alice: Any) -> None:
    image = row(alice, 7, model_id="clip-tiny-random")

    html = admin_client.get(f"{CHANGELIST}{image.pk}/change/").content.decode()

    assert image.sha256 in html
    assert "640 \N{MULTIPLICATION SIGN} 480" in html
    assert "clip-tiny-random" in html
    assert 'name="sha256"' not in html  # shown, not editable
    assert 'name="visibility"' not in html  # changed through the action, with the vector
    assert "image-preview--large" in html


def test_admin_cannot_add_images(admin_client: Client) -> None:
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_reindex_action_queues_the_images(admin_client: Client, alice: Any) -> None:
    failed = row(alice, 1, status=Image.Status.FAILED, error="boom")
    other = row(alice, 2, status=Image.Status.FAILED, error="boom")

    response = admin_client.post(
        CHANGELIST, {"action": "reindex", "_selected_action": [str(failed.pk)]}, follow=True
    )

    assert "1 image(s) queued for indexing." in response.content.decode()
    failed.refresh_from_db()
    other.refresh_from_db()
    assert (failed.status, failed.error) == (Image.Status.PENDING, "")
    assert other.status == Image.Status.FAILED


def test_make_private_action_updates_row_and_vector(
    admin_client: Client, alice: Any, upload: Any
) -> None:
    body = upload(api_client(alice), image_bytes(picture()), visibility="public").json()
    image = Image.objects.get(pk=body["id"])
    collection = get_encoder().collection_name

    admin_client.post(CHANGELIST, {"action": "make_private", "_selected_action": [str(image.pk)]})

    image.refresh_from_db()
    assert image.visibility == Image.Visibility.PRIVATE
    hits = get_store().retrieve_vectors(collection, [image.pk])
    assert image.pk in hits
    from vectorstore import Filter, Match

    public = Filter(must=(Match("visibility", "public"),))
    assert get_store().count(collection, public) == 0


def test_admin_delete_removes_the_vector_too(admin_client: Client, alice: Any, upload: Any) -> None:
    body = upload(api_client(alice), image_bytes(picture())).json()
    collection = get_encoder().collection_name
    assert get_store().count(collection) == 1

    admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [body["id"]], "post": "yes"},
    )

    assert not Image.objects.filter(pk=body["id"]).exists()
    assert get_store().count(collection) == 0


def test_thumbnail_preview_shows_other_users_private_images_to_staff(
    admin_client: Client, alice: Any, upload: Any
) -> None:
    body = upload(api_client(alice), image_bytes(picture())).json()

    response = admin_client.get(f"{CHANGELIST}{body['id']}/thumbnail/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"RIFF"  # a WebP thumbnail


def test_thumbnail_preview_needs_the_view_permission(alice: Any) -> None:
    staff = make_user("sam", is_staff=True)
    image = row(alice, 1)
    client = Client()
    client.force_login(staff)

    assert client.get(f"{CHANGELIST}{image.pk}/thumbnail/").status_code == 403


def test_admin_approve_and_reject_actions_record_decisions(
    admin_client: Any, alice_api: Any, upload: Any, settings: Any
) -> None:
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}
    settings.MODERATION_QUERY_MARGIN = 10.0
    first = upload(alice_api, image_bytes(picture((1, 1, 1))), visibility="public").json()["id"]
    second = upload(alice_api, image_bytes(picture((2, 2, 2))), visibility="public").json()["id"]

    for action, image_id in (("approve", first), ("reject", second)):
        response = admin_client.post(
            "/admin/gallery/image/", {"action": action, "_selected_action": [image_id]}
        )
        assert response.status_code == 302

    assert Image.objects.get(pk=first).moderation == "approved"
    assert Image.objects.get(pk=second).moderation == "rejected"
    decided = ModerationDecision.objects.exclude(decided_by=None)
    assert sorted(decided.values_list("decision", flat=True)) == ["approved", "rejected"]
    page = admin_client.get(f"/admin/gallery/image/{second}/change/")
    assert b"rejected" in page.content.lower()


VIDEOS = "/admin/gallery/video/"


@pytest.fixture
def crossing_video(
    alice_api: APIClient, post_video: Callable[..., Any], settings: Any, tmp_path: Path
) -> Video:
    """A real public video, indexed with the demo model, whose second scene crosses a concept."""
    return upload_crossing_video(alice_api, post_video, settings, tmp_path)


def video_row(owner: AbstractBaseUser, n: int, **fields: Any) -> Video:
    """A video row without files or points: enough for the changelist."""
    return Video.objects.create(
        owner=owner,
        file=f"videos/{n}.mp4",
        sha256=f"{n:064x}",
        original_filename=f"video-{n}.mp4",
        format="mp4",
        codec="h264",
        width=160,
        height=120,
        duration=10.0,
        frame_rate=10.0,
        size=1000 + n,
        **fields,
    )


def moment_thumbnail_url(moment: VideoMoment) -> str:
    return f"{VIDEOS}{moment.video_id}/moments/{moment.point_id}/thumbnail/"


def listed_moments(html: str) -> list[str]:
    """The items of the page's lists of crossing moments."""
    lists = re.findall(r'<ul class="crossed-moments">(.*?)</ul>', html, re.S)
    return [item for block in lists for item in re.findall(r"<li.*?</li>", block, re.S)]


def hidden_points(video: Video, hidden: int) -> int:
    scope = Filter(must=(Match("video", str(video.pk)), Match("hidden", hidden)))
    return get_store().count(get_encoder().collection_name, scope)


def test_video_review_page_shows_each_crossing_moment_with_time_concept_and_link(
    admin_client: Client, crossing_video: Video
) -> None:
    crossed, calm = split_moments(crossing_video)

    response = admin_client.get(f"{VIDEOS}{crossing_video.pk}/change/")

    assert response.status_code == 200
    items = listed_moments(response.content.decode())
    assert len(items) == len(crossed)
    for item, moment in zip(items, crossed, strict=True):
        start, end = int(moment.start), int(moment.end)
        assert f"{start // 60}:{start % 60:02d}\N{EN DASH}{end // 60}:{end % 60:02d}" in item
        assert re.search(r"a red triangle \(0\.\d{3}\)", item)
        assert moment.flagged in item
        assert f'src="{moment_thumbnail_url(moment)}"' in item
        assert f'href="/videos/{crossing_video.pk}/?t={moment.start:.1f}"' in item
    html = response.content.decode()
    for moment in calm:
        assert moment_thumbnail_url(moment) not in html
        assert f"?t={moment.start:.1f}" not in html
    assert 'name="moderation"' not in html  # shown, changed only by the actions


def test_video_review_list_shows_the_crossing_moments_of_flagged_videos(
    admin_client: Client, crossing_video: Video, alice: Any
) -> None:
    crossed, calm = split_moments(crossing_video)
    other = video_row(alice, 1)
    VideoMoment.objects.create(
        video=other, start=0.0, end=1.0, point_id=VideoMoment.point_for(other.pk, 0.0)
    )

    response = admin_client.get(VIDEOS, {"moderation__exact": "flagged"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "mixed.mp4" in html
    assert "video-1.mp4" not in html  # not flagged: not in the review list
    items = listed_moments(html)
    assert len(items) == min(len(crossed), 3)
    assert all("a red triangle (0." in item for item in items)
    assert all(moment_thumbnail_url(m) not in html for m in calm)
    assert "Approve selected videos (moderation)" in html
    assert "Reject selected videos (moderation)" in html


def test_video_review_list_queries_do_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    owners = [make_user(f"owner{i}") for i in range(5)]
    for n in range(20):
        video = video_row(owners[n % 5], n, moderation="flagged")
        for start in (1.0, 65.5):
            VideoMoment.objects.create(
                video=video,
                start=start,
                end=start + 2,
                point_id=VideoMoment.point_for(video.pk, start),
                flagged="a red triangle (0.250)",
            )

    # As for images, plus one query for every row's crossing moments.
    with django_assert_max_num_queries(9):
        response = admin_client.get(VIDEOS)

    items = listed_moments(response.content.decode())
    assert len(items) == 40
    assert sum("1:05\N{EN DASH}1:07" in item for item in items) == 20


def test_moment_thumbnail_is_served_to_staff_who_may_view_videos(
    admin_client: Client, crossing_video: Video
) -> None:
    crossed, _ = split_moments(crossing_video)
    staff = make_user("sam", is_staff=True)
    client = Client()
    client.force_login(staff)

    response = admin_client.get(moment_thumbnail_url(crossed[0]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"RIFF"  # a WebP thumbnail
    assert client.get(moment_thumbnail_url(crossed[0])).status_code == 403


def test_video_approve_and_reject_actions_reach_every_moment_point(
    admin_client: Client, crossing_video: Video, bob_api: APIClient
) -> None:
    count = crossing_video.moments_indexed
    assert hidden_points(crossing_video, 1) == count
    assert bob_api.get(f"/api/videos/{crossing_video.pk}/").status_code == 404

    response = admin_client.post(
        VIDEOS, {"action": "approve", "_selected_action": [str(crossing_video.pk)]}, follow=True
    )

    assert "1 video(s): approved." in response.content.decode()
    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "approved"
    assert (hidden_points(crossing_video, 0), hidden_points(crossing_video, 1)) == (count, 0)
    assert bob_api.get(f"/api/videos/{crossing_video.pk}/").status_code == 200

    admin_client.post(VIDEOS, {"action": "reject", "_selected_action": [str(crossing_video.pk)]})

    crossing_video.refresh_from_db()
    assert crossing_video.moderation == "rejected"
    assert (hidden_points(crossing_video, 0), hidden_points(crossing_video, 1)) == (0, count)
    assert bob_api.get(f"/api/videos/{crossing_video.pk}/").status_code == 404
    # Each decision recorded against the video, by the admin who made it.
    decisions = ModerationDecision.objects.filter(video=crossing_video, image=None)
    assert list(decisions.values_list("decision", "decided_by__username", "reason")) == [
        ("rejected", "admin", "admin action"),
        ("approved", "admin", "admin action"),
        ("flagged", None, decisions.last().reason),  # type: ignore[union-attr]  screening's
    ]
