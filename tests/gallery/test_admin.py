from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from encoder.clip import get_encoder
from gallery.models import Image
from tests.factories import api_client, image_bytes, make_user, picture
from vectorstore import get_store

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
    from gallery.models import Image, ModerationDecision

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
