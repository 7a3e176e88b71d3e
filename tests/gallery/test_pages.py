"""The web pages through Django's test client: permissions, forms, empty and error states."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from gallery.models import Image, Video
from gallery.templatetags.video_pages import duration
from search.services import SearchRequest
from tests.factories import api_client, image_bytes, make_user, picture, upload_file
from tests.support.moderation import upload_crossing_video
from tests.support.videos import render_video

pytestmark = pytest.mark.django_db

RED, GREEN, BLUE = (220, 30, 30), (30, 160, 40), (30, 60, 220)


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Rate-limit history lives in the cache; start each test with none."""
    cache.clear()


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Low limits for the test (DRF reads its rates once, at import)."""
    low = dict(SimpleRateThrottle.THROTTLE_RATES)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", low)
    return low


@pytest.fixture
def alice_page(alice: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_page(bob: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def add_image(upload: Any) -> Callable[..., Image]:
    """Upload (and index) an image for `owner` through the API."""

    def add(
        owner: AbstractBaseUser,
        colour: tuple[int, int, int] = RED,
        name: str = "red.png",
        *,
        fmt: str = "PNG",
        **fields: Any,
    ) -> Image:
        data = image_bytes(picture(colour, shape="square"), fmt)
        response = upload(api_client(owner), data, name, **fields)
        assert response.status_code == 201, response.json()
        return Image.objects.get(pk=response.json()["id"])

    return add


def csrf_token_in(html: str) -> bool:
    return bool(re.search(r'name="csrfmiddlewaretoken" value="[^"]+"', html))


# -- sign-in ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/search/?q=dog",
        "/upload/",
        "/staff/status/",
        "/images/00000000-0000-0000-0000-000000000000/",
    ],
)
def test_pages_send_anonymous_visitors_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_login_page_has_a_labelled_form_with_csrf(client: Client) -> None:
    response = client.get("/accounts/login/")

    html = response.content.decode()
    assert response.status_code == 200
    assert csrf_token_in(html)
    assert '<label for="id_username">' in html
    assert 'class="skip-link" href="#main"' in html
    assert "Create an account" not in html  # sign-up is off by default


def test_signing_in_and_out(client: Client, alice: AbstractBaseUser) -> None:
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct horse battery staple"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/"
    assert "alice" in response.content.decode()

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_an_error_in_words(client: Client, alice: AbstractBaseUser) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_page_sign_in_shares_the_apis_limit_per_username(
    client: Client, alice: AbstractBaseUser, rates: dict[str, str]
) -> None:
    rates["login_username"] = "3/min"
    for i in range(3):
        client.post(
            "/accounts/login/", {"username": "alice", "password": "no"}, REMOTE_ADDR=f"10.0.0.{i}"
        )

    page = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct horse battery staple"}
    )
    api = Client().post(
        "/api/auth/token/",
        {"username": "alice", "password": "correct horse battery staple"},
        content_type="application/json",
    )

    assert page.status_code == 429
    assert "Too many sign-in attempts" in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert api.status_code == 429


def test_signup_is_a_404_unless_enabled(client: Client) -> None:
    assert client.get("/accounts/signup/").status_code == 404


def test_signup_creates_an_account_and_signs_in(client: Client, settings: Any) -> None:
    settings.SIGNUP_ENABLED = True
    assert "Create an account" in client.get("/accounts/login/").content.decode()

    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/upload/"
    assert client.get("/").status_code == 200


# -- gallery ------------------------------------------------------------------


def test_gallery_empty_state_invites_an_upload(alice_page: Client) -> None:
    html = alice_page.get("/").content.decode()

    assert "No images yet" in html
    assert 'href="/upload/"' in html


def test_gallery_shows_own_and_public_images_but_not_others_private(
    alice_page: Client, alice: AbstractBaseUser, bob: AbstractBaseUser, add_image: Any
) -> None:
    mine = add_image(alice, RED, "mine.png")
    shared = add_image(bob, GREEN, "shared.png", visibility="public")
    hidden = add_image(bob, BLUE, "hidden.png")

    html = alice_page.get("/").content.decode()

    assert str(mine.pk) in html
    assert str(shared.pk) in html
    assert "by bob" in html
    assert str(hidden.pk) not in html
    assert 'loading="lazy"' in html
    assert f'src="/api/images/{mine.pk}/thumbnail/"' in html
    assert 'alt="mine.png"' in html

    only_mine = alice_page.get("/?mine=1").content.decode()
    assert str(mine.pk) in only_mine
    assert str(shared.pk) not in only_mine


def test_gallery_badges_pending_and_failed_images(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    pending = add_image(alice, RED, "pending.png")
    pending.mark_pending()
    failed = add_image(alice, GREEN, "failed.png")
    failed.mark_failed(error="The model could not be loaded.")
    add_image(alice, BLUE, "fine.png")

    html = alice_page.get("/").content.decode()

    assert html.count("badge--pending") == 1
    assert f'data-poll="{pending.pk}"' in html  # the page follows it until it is indexed
    assert html.count("badge--failed") == 1
    assert 'title="The model could not be loaded."' in html


def test_flagged_image_shows_a_badge_and_a_note_to_its_owner(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice)
    Image.objects.filter(pk=image.pk).update(moderation="flagged", moderation_reason="violence")

    gallery = alice_page.get("/").content.decode()
    detail = alice_page.get(f"/images/{image.pk}/").content.decode()

    assert 'class="badge badge--flagged" title="violence">Flagged<' in gallery
    assert "Flagged by moderation (violence)." in detail
    assert "Only you can see it until staff review it." in detail


def test_gallery_pages_through_many_images(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("gallery.views.GALLERY_PAGE_SIZE", 2)
    for i in range(3):
        add_image(alice, (40 * i, 90, 200), f"{i}.png")

    first = alice_page.get("/").content.decode()
    second = alice_page.get("/?page=2").content.decode()

    assert first.count('class="tile"') == 2
    assert 'rel="next" href="?page=2"' in first
    assert second.count('class="tile"') == 1
    assert 'rel="prev"' in second


# -- image page ---------------------------------------------------------------


def test_other_users_private_image_is_a_404_page(
    bob_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    private = add_image(alice)

    for path in (
        f"/images/{private.pk}/",
        f"/images/{private.pk}/delete/",
    ):
        response = bob_page.get(path)
        assert response.status_code == 404
        assert "Not found" in response.content.decode()  # a page, not JSON
    assert bob_page.post(f"/images/{private.pk}/delete/").status_code == 404
    assert Image.objects.filter(pk=private.pk).exists()


def test_owner_sees_metadata_and_controls(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, RED, "red.jpg", fmt="JPEG")
    add_image(alice, GREEN, "green.png")

    response = alice_page.get(f"/images/{image.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "JPEG" in html
    assert f"{image.width} \N{MULTIPLICATION SIGN} {image.height} px" in html
    assert f'href="/images/{image.pk}/delete/"' in html
    assert f'action="/images/{image.pk}/visibility/"' in html
    assert csrf_token_in(html)
    assert "More like this" in html
    assert "green.png" in html  # the only other image is the most similar one
    assert f'href="/search/?like={image.pk}"' in html


def test_non_owner_sees_a_public_image_without_controls(
    bob_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, visibility="public")

    html = bob_page.get(f"/images/{image.pk}/").content.decode()

    assert "alice" in html
    assert "Delete" not in html
    assert "/visibility/" not in html
    assert (
        bob_page.post(f"/images/{image.pk}/visibility/", {"visibility": "private"}).status_code
        == 404
    )


def test_owner_changes_visibility(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice)

    response = alice_page.post(
        f"/images/{image.pk}/visibility/", {"visibility": "public"}, follow=True
    )

    image.refresh_from_db()
    assert image.visibility == "public"
    assert "is now public" in response.content.decode()


def test_delete_asks_for_confirmation_then_deletes(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, RED, "doomed.png")

    confirm = alice_page.get(f"/images/{image.pk}/delete/").content.decode()
    assert "This cannot be undone" in confirm
    assert csrf_token_in(confirm)
    assert Image.objects.filter(pk=image.pk).exists()

    response = alice_page.post(f"/images/{image.pk}/delete/", follow=True)

    assert response.redirect_chain[-1][0] == "/"
    assert "doomed.png was deleted." in response.content.decode()
    assert not Image.objects.filter(pk=image.pk).exists()


def test_forms_refuse_posts_without_the_csrf_token(alice: AbstractBaseUser, add_image: Any) -> None:
    image = add_image(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(f"/images/{image.pk}/delete/").status_code == 403
    assert client.post("/search/", {"q": "red"}).status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()


def test_failed_image_can_be_indexed_again(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice)
    image.mark_failed(error="boom")
    assert "Index again" in alice_page.get(f"/images/{image.pk}/").content.decode()

    alice_page.post(f"/images/{image.pk}/reindex/")

    image.refresh_from_db()
    assert image.status == "pending"


# -- upload -------------------------------------------------------------------


def test_upload_page_has_a_drop_zone_file_input_and_csrf(alice_page: Client) -> None:
    html = alice_page.get("/upload/").content.decode()

    assert csrf_token_in(html)
    assert "data-dropzone" in html
    assert re.search(r'<input[^>]*type="file"[^>]*multiple', html)
    assert '<label for="id_visibility">' in html


def test_upload_without_javascript_reports_each_file(
    alice_page: Client, django_capture_on_commit_callbacks: Any
) -> None:
    files = [
        upload_file(image_bytes(picture(RED)), "good.png"),
        upload_file(b"just some text", "notes.txt"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_page.post(
            "/upload/", {"images": files, "visibility": "public"}, follow=True
        )

    html = response.content.decode()
    assert "good.png: uploaded." in html
    assert "notes.txt: The file is not an image we can read." in html
    image = Image.objects.get()
    assert (image.original_filename, image.visibility, image.status) == (
        "good.png",
        "public",
        "indexed",
    )


def test_upload_without_files_is_an_error_in_words(alice_page: Client) -> None:
    response = alice_page.post("/upload/", {"visibility": "private"})

    assert response.status_code == 400
    assert "Choose one or more images." in response.content.decode()


# -- search -------------------------------------------------------------------


def test_search_page_without_a_query_explains_itself(alice_page: Client) -> None:
    html = alice_page.get("/search/").content.decode()

    assert "Find images by describing them" in html
    assert 'method="get"' in html
    assert csrf_token_in(html)  # the example-image form posts


def test_text_search_shows_scored_results(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    images = [add_image(alice, c, f"{i}.png") for i, c in enumerate((RED, GREEN, BLUE))]

    response = alice_page.get("/search/", {"q": "a red square"})

    html = response.content.decode()
    assert response.status_code == 200
    assert all(str(image.pk) in html for image in images)
    assert len(re.findall(r'title="Score -?\d\.\d{3}"', html)) == 3
    assert 'value="a red square"' in html  # the query stays in the box (and the URL)


def test_search_parses_negative_terms_and_filters(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any, monkeypatch: Any
) -> None:
    add_image(alice)
    seen: list[SearchRequest] = []
    from search import services

    def spy(*, user: Any, request: SearchRequest) -> Any:
        seen.append(request)
        return services.search(user=user, request=request)

    monkeypatch.setattr("search.views.search", spy)

    html = alice_page.get(
        "/search/",
        {
            "q": 'beach -people -"parked cars"',
            "less": "dogs, people",
            "format": "PNG",
            "date_from": "2024-01-01",
            "tags": "sea, sand",
        },
    ).content.decode()

    request = seen[0]
    assert [t.text for t in request.texts] == ["beach"]
    assert request.negative_texts == ("people", "parked cars", "dogs")
    assert request.filters == {
        "must": [
            {"key": "format", "match": {"value": "PNG"}},
            {"key": "timestamp", "range": {"gte": "2024-01-01"}},
            {"key": "tags", "match": {"any": ["sea", "sand"]}},
        ]
    }
    assert "Less of:" in html
    assert '<span class="chip">parked cars</span>' in html


def test_search_filters_narrow_the_results(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    jpeg = add_image(alice, RED, "red.jpg", fmt="JPEG")
    png = add_image(alice, GREEN, "green.png")

    html = alice_page.get("/search/", {"q": "square", "format": "JPEG"}).content.decode()

    assert str(jpeg.pk) in html
    assert str(png.pk) not in html


def test_negative_only_search_shows_the_services_message(alice_page: Client) -> None:
    response = alice_page.get("/search/", {"q": "-dogs"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html
    assert "A query needs something to look for, not only things to avoid" in html
    assert "Traceback" not in html


def test_page_search_shares_the_apis_search_limit(
    alice_page: Client, rates: dict[str, str]
) -> None:
    rates["search"] = "2/min"
    codes = [alice_page.get("/search/", {"q": "-x"}).status_code for _ in range(2)]

    throttled = alice_page.get("/search/", {"q": "a dog"})

    assert codes == [200, 200]
    assert throttled.status_code == 429
    assert "Too many searches in a short time" in throttled.content.decode()
    assert alice_page.get("/search/").status_code == 200  # the blank page is not a search


def test_bad_dates_are_a_form_error(alice_page: Client) -> None:
    html = alice_page.get(
        "/search/", {"q": "x", "date_from": "2024-05-01", "date_to": "2024-01-01"}
    ).content.decode()

    assert "The end date is before the start date." in html


def test_search_with_no_match_has_an_empty_state(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    add_image(alice)

    html = alice_page.get("/search/", {"q": "square", "format": "GIF"}).content.decode()

    assert "No images match" in html


def test_search_by_example_image_finds_the_same_image_first(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    green = add_image(alice, GREEN, "green.png")
    add_image(alice, RED, "red.png")
    add_image(alice, BLUE, "blue.png")
    example = upload_file(image_bytes(picture(GREEN, shape="square")), "query.png")

    response = alice_page.post("/search/", {"image": example})

    html = response.content.decode()
    first = re.search(r'href="/images/([0-9a-f-]+)/" title="Score (-?\d\.\d{3})"', html)
    assert first is not None
    assert first.groups() == (str(green.pk), "1.000")
    assert Image.objects.count() == 3  # the example is not stored


def test_search_by_a_file_that_is_not_an_image_says_so(alice_page: Client) -> None:
    response = alice_page.post("/search/", {"image": upload_file(b"hello", "notes.txt")})

    assert "The file is not an image we can read." in response.content.decode()


def test_more_like_this_search_excludes_the_image_itself(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    red = add_image(alice, RED, "red.png")
    green = add_image(alice, GREEN, "green.png")

    html = alice_page.get("/search/", {"like": str(red.pk)}).content.decode()

    assert "More like red.png" in html
    assert f'href="/images/{green.pk}/" title="Score' in html
    assert f'href="/images/{red.pk}/" title="Score' not in html


def test_more_like_someone_elses_private_image_is_refused(
    bob_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    private = add_image(alice)

    html = bob_page.get("/search/", {"like": str(private.pk)}).content.decode()

    assert "That image does not exist, or is not yours to see." in html
    assert str(private.pk) not in html.replace(f'value="{private.pk}"', "")


# -- staff status and errors ----------------------------------------------------


def test_staff_status_is_forbidden_to_other_users(alice_page: Client) -> None:
    response = alice_page.get("/staff/status/")

    assert response.status_code == 403
    assert "Only staff can see the status page." in response.content.decode()


def test_staff_status_shows_counts_model_index_and_queue(
    alice: AbstractBaseUser,
    add_image: Any,
    alice_api: Any,
    post_video: Any,
    settings: Any,
    tmp_path: Path,
) -> None:
    from encoder.clip import get_encoder

    add_image(alice, RED, "a.png")
    add_image(alice, GREEN, "b.png").mark_failed(error="x")
    Image.objects.filter(original_filename="a.png").update(moderation="flagged")
    video = upload_crossing_video(alice_api, post_video, settings, tmp_path)
    staff = make_user("sam", is_staff=True)
    client = Client()
    client.force_login(staff)

    response = client.get("/staff/status/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<td data-status="indexed">1</td>' in html
    assert '<td data-status="failed">1</td>' in html
    assert '<td data-status="pending">0</td>' in html
    assert f"<dd data-model>{get_encoder().model_id}</dd>" in html
    # Two images' points and one per moment of the video.
    assert f'<p class="stat__big" data-index-size>{2 + video.moments_indexed}</p>' in html
    assert "in process" in html
    awaiting = '<span class="stat__inline" data-awaiting-review>2</span> flagged images or videos'
    assert awaiting in html
    assert "/staff/moderation/" in html


def test_unknown_page_is_an_html_404_and_api_stays_json(alice_page: Client) -> None:
    page = alice_page.get("/no/such/page/")
    api = alice_page.get("/api/no/such/endpoint/")

    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_staff_review_flagged_images_on_the_moderation_page(
    add_image: Callable[..., Image], settings: Any, alice: AbstractBaseUser, bob_page: Client
) -> None:
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}
    settings.MODERATION_QUERY_MARGIN = 10.0
    flagged = add_image(alice, visibility="public")
    staff = make_user("reviewer", is_staff=True)
    page = Client()
    page.force_login(staff)

    queue = page.get("/staff/moderation/")
    assert queue.status_code == 200
    html = queue.content.decode()
    assert f'data-review="{flagged.pk}"' in html
    assert "anything at all" in html
    assert csrf_token_in(html)
    assert bob_page.get("/staff/moderation/").status_code == 403
    assert bob_page.get(f"/images/{flagged.pk}/").status_code == 404

    response = page.post(
        f"/staff/moderation/{flagged.pk}/", {"decision": "approve", "reason": "a shape"}
    )

    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.moderation == "approved"
    assert flagged.decisions.filter(decided_by=staff, reason="a shape").exists()
    assert bob_page.get(f"/images/{flagged.pk}/").status_code == 200
    assert "Nothing is waiting for review" in page.get("/staff/moderation/").content.decode()


# -- words and places -----------------------------------------------------------

LISBON_FIELDS = {
    "latitude": 38.7223,
    "longitude": -9.1393,
    "place_city": "Lisbon",
    "place_region": "Lisboa",
    "place_country": "Portugal",
    "place_country_code": "PT",
}


def test_owner_sets_the_caption_and_sharing_on_the_image_page(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice)
    page = alice_page.get(f"/images/{image.pk}/").content.decode()
    assert f'action="/images/{image.pk}/details/"' in page
    assert '<textarea name="description"' in page

    response = alice_page.post(
        f"/images/{image.pk}/details/",
        {"description": "  A red square at dawn  ", "location_shared": "on"},
        follow=True,
    )

    image.refresh_from_db()
    assert (image.description, image.location_shared) == ("A red square at dawn", True)
    assert response.redirect_chain[-1][0] == f"/images/{image.pk}/"
    html = response.content.decode()
    assert "red.png: saved." in html
    assert '<p class="caption" data-caption>A red square at dawn</p>' in html

    alice_page.post(f"/images/{image.pk}/details/", {"description": "A red square"})
    image.refresh_from_db()
    assert (image.description, image.location_shared) == ("A red square", False)


def test_caption_edit_by_another_user_is_a_404(
    bob_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, visibility="public")

    response = bob_page.post(
        f"/images/{image.pk}/details/", {"description": "mine now", "location_shared": "on"}
    )

    assert response.status_code == 404
    image.refresh_from_db()
    assert (image.description, image.location_shared) == ("", False)
    html = bob_page.get(f"/images/{image.pk}/").content.decode()
    assert "/details/" not in html
    assert "<textarea" not in html


def test_too_long_a_caption_is_refused_in_words(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice)

    response = alice_page.post(
        f"/images/{image.pk}/details/", {"description": "x" * 2001}, follow=True
    )

    assert "at most 2000 characters" in response.content.decode()
    image.refresh_from_db()
    assert image.description == ""


def test_place_is_hidden_from_others_unless_its_owner_shares_it(
    alice_page: Client, bob_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, visibility="public")
    Image.objects.filter(pk=image.pk).update(**LISBON_FIELDS)

    own = alice_page.get(f"/images/{image.pk}/").content.decode()
    other = bob_page.get(f"/images/{image.pk}/").content.decode()

    assert "Lisbon, Lisboa, Portugal" in own
    assert "only you see it" in own
    for hidden in ("Lisbon", "Lisboa", "Portugal", "38.72", "data-place"):
        assert hidden not in other

    alice_page.post(f"/images/{image.pk}/details/", {"location_shared": "on"})
    shared = bob_page.get(f"/images/{image.pk}/").content.decode()

    assert "<dd data-place>Lisbon, Lisboa, Portugal</dd>" in shared
    assert "shown to others" in alice_page.get(f"/images/{image.pk}/").content.decode()


def test_image_page_shows_recognised_text_camera_lens_and_word_boxes(
    bob_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, visibility="public")
    Image.objects.filter(pk=image.pk).update(
        description="<b>Shop</b> sign",
        recognised_text="OPEN <DAILY>\n9 to 5",
        text_words=[
            {"t": "OPEN", "b": [0.1, 0.2, 0.3, 0.1], "c": 96.0},
            {"t": "<DAILY>", "b": [0.45, 0.2, 0.7, 0.1], "c": 91.5},
            {"t": "broken", "b": [0.1, 0.2]},
        ],
        camera_make="Canon",
        camera_model="Canon EOS 5D",
        lens="EF 50mm f/1.8",
    )

    html = bob_page.get(f"/images/{image.pk}/").content.decode()

    assert '<pre class="recognised"' in html
    assert "OPEN &lt;DAILY&gt;\n9 to 5</pre>" in html
    assert '<p class="caption" data-caption>&lt;b&gt;Shop&lt;/b&gt; sign</p>' in html
    assert "<dd data-camera>Canon EOS 5D</dd>" in html
    assert "<dd data-lens>EF 50mm f/1.8</dd>" in html
    assert 'id="show-words"' in html
    boxes = re.findall(r'<span class="word-box" style="([^"]+)" title="([^"]+)"', html)
    assert boxes == [
        ("left: 10.00%; top: 20.00%; width: 30.00%; height: 10.00%", "OPEN (96%)"),
        # Clipped to the picture; its word escaped.
        ("left: 45.00%; top: 20.00%; width: 55.00%; height: 10.00%", "&lt;DAILY&gt; (92%)"),
    ]


def test_image_page_without_words_has_no_word_switch(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice)

    html = alice_page.get(f"/images/{image.pk}/").content.decode()

    assert 'id="show-words"' not in html
    assert "Text in the picture" not in html
    assert "data-camera" not in html


def test_words_recognised_in_a_sign_show_on_its_page_and_in_search(
    alice_page: Client, alice: AbstractBaseUser, upload: Any
) -> None:
    from tests.support.photos import require_ocr, words_picture

    require_ocr()
    response = upload(api_client(alice), image_bytes(words_picture(["OPEN DAILY"])), "sign.png")
    image = Image.objects.get(pk=response.json()["id"])
    assert "DAILY" in image.recognised_text

    page = alice_page.get(f"/images/{image.pk}/").content.decode()
    found = alice_page.get("/search/", {"q": "daily", "mode": "text"}).content.decode()

    assert "DAILY" in page.split('<pre class="recognised"')[1].split("</pre>")[0]
    assert page.count('class="word-box"') >= 2
    assert f'href="/images/{image.pk}/"' in found
    assert '<span class="tile__snippet" data-source="text">' in found
    assert "<mark>DAILY</mark>" in found


def test_search_snippet_marks_the_matched_words_and_escapes_the_caption(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    image = add_image(alice, RED, "red.png")
    other = add_image(alice, GREEN, "green.png")
    alice_page.post(
        f"/images/{image.pk}/details/",
        {"description": "<script>alert(1)</script> the harbour at dawn"},
    )

    html = alice_page.get("/search/", {"q": "harbour"}).content.decode()

    tile = html.split(f'href="/images/{image.pk}/"')[1].split("</li>")[0]
    assert '<span class="badge badge--text"' in tile
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the <mark>harbour</mark> at dawn</span>" in tile
    assert "<script>alert" not in html
    # Hybrid finds the other image by its picture alone: no badge, no snippet.
    rest = html.split(f'href="/images/{other.pk}/"')[1].split("</li>")[0]
    assert "badge--text" not in rest
    assert "tile__snippet" not in rest

    words_only = alice_page.get("/search/", {"q": "harbour", "mode": "text"}).content.decode()
    assert f'href="/images/{image.pk}/"' in words_only
    assert f'href="/images/{other.pk}/"' not in words_only
    assert '<option value="text" selected>' in words_only


def test_search_page_sends_mode_phrases_place_and_camera(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any, monkeypatch: Any
) -> None:
    add_image(alice)
    seen: list[SearchRequest] = []
    from search import services

    def spy(*, user: Any, request: SearchRequest) -> Any:
        seen.append(request)
        return services.search(user=user, request=request)

    monkeypatch.setattr("search.views.search", spy)

    blank = alice_page.get("/search/").content.decode()
    alice_page.get(
        "/search/",
        {"q": '"open daily" shop -closed', "mode": "text", "place": " Lisbon ", "camera": "Canon"},
    )
    alice_page.get("/search/", {"q": "shop"})

    assert '<option value="" selected>Meaning and words</option>' in blank
    worded, plain = seen
    assert [t.text for t in worded.texts] == ['"open daily" shop']
    assert worded.negative_texts == ("closed",)
    assert worded.mode == "text"
    assert worded.filters == {
        "must": [
            {"key": "place", "match": {"value": "Lisbon"}},
            {"key": "camera", "match": {"value": "Canon"}},
        ]
    }
    assert (plain.mode, plain.resolved_mode, plain.filters) == (None, "hybrid", None)


def test_an_unknown_search_mode_is_a_form_error(alice_page: Client) -> None:
    html = alice_page.get("/search/", {"q": "shop", "mode": "psychic"}).content.decode()

    assert "Select a valid choice." in html


def test_gallery_filters_by_place_only_where_the_place_is_shown(
    alice_page: Client, alice: AbstractBaseUser, bob: AbstractBaseUser, add_image: Any
) -> None:
    mine = add_image(alice, RED, "mine.png")
    shared = add_image(bob, GREEN, "shared.png", visibility="public")
    unshared = add_image(bob, BLUE, "unshared.png", visibility="public")
    elsewhere = add_image(alice, (200, 200, 40), "elsewhere.png")
    Image.objects.filter(pk__in=[mine.pk, unshared.pk]).update(**LISBON_FIELDS)
    Image.objects.filter(pk=shared.pk).update(**LISBON_FIELDS, location_shared=True)
    Image.objects.filter(pk=elsewhere.pk).update(place_city="Porto", place_country="Portugal")

    by_city = alice_page.get("/", {"place": "lisbon"}).content.decode()
    by_country = alice_page.get("/", {"place": "PT"}).content.decode()
    only_mine = alice_page.get("/", {"place": "Portugal", "mine": "1"}).content.decode()
    nowhere = alice_page.get("/", {"place": "Berlin"}).content.decode()

    everyone = (mine, shared, unshared, elsewhere)
    assert shown(by_city, *everyone) == [True, True, False, False]
    assert shown(by_country, *everyone) == [True, True, False, False]
    assert shown(only_mine, *everyone) == [True, False, False, True]
    assert 'value="Portugal"' in only_mine
    assert "No images match" in nowhere
    assert "No images yet" not in nowhere


def test_gallery_filters_by_camera_make_and_model(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    canon = add_image(alice, RED, "canon.png")
    nikon = add_image(alice, GREEN, "nikon.png")
    Image.objects.filter(pk=canon.pk).update(camera_make="Canon", camera_model="Canon EOS 5D")
    Image.objects.filter(pk=nikon.pk).update(camera_make="NIKON CORPORATION", camera_model="D750")

    def gallery(camera: str) -> list[bool]:
        return shown(alice_page.get("/", {"camera": camera}).content.decode(), canon, nikon)

    assert gallery("nikon") == [False, True]
    assert gallery("canon eos") == [True, False]
    assert gallery("d750") == [False, True]
    assert gallery("canon d750") == [False, False]


def shown(html: str, *images: Image) -> list[bool]:
    """Whether each image has a tile on the page."""
    return [f'href="/images/{image.pk}/"' in html for image in images]


def test_gallery_pager_keeps_the_filters(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("gallery.views.GALLERY_PAGE_SIZE", 1)
    for i in range(2):
        image = add_image(alice, (40 * i, 90, 200), f"{i}.png")
        Image.objects.filter(pk=image.pk).update(camera_make="Canon")

    html = alice_page.get("/", {"mine": "1", "camera": "canon"}).content.decode()

    assert 'rel="next" href="?mine=1&amp;camera=canon&amp;page=2"' in html


def test_share_location_default_is_set_on_the_upload_page(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any
) -> None:
    from gallery.models import Preferences

    page = alice_page.get("/upload/").content.decode()
    assert 'action="/preferences/"' in page
    assert re.search(r'<input type="checkbox" name="share_location" id="id_share_location">', page)

    response = alice_page.post("/preferences/", {"share_location": "on"}, follow=True)

    assert response.redirect_chain[-1][0] == "/upload/"
    html = response.content.decode()
    assert "Others will see where your new photos were taken." in html
    assert re.search(r'<input type="checkbox" name="share_location"[^>]* checked>', html)
    assert Preferences.of(alice).share_location is True
    assert add_image(alice).location_shared is True

    alice_page.post("/preferences/", {})
    assert Preferences.of(alice).share_location is False
    assert alice_page.get("/preferences/").status_code == 405


# -- videos in the gallery and on the upload page -------------------------------


def clip_bytes(tmp_path: Path, colour: tuple[int, int, int], seconds: float = 3.0) -> bytes:
    """A real H.264 MP4: a shape on a light background for `seconds`, then a plain frame."""
    shots = [(seconds - 0.5, picture(colour, (160, 120), shape="circle")), (0.5, picture(colour))]
    return render_video(tmp_path / f"clip-{colour}.mp4", shots).read_bytes()


@pytest.fixture
def add_video(upload: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> Any:
    """Upload (and index, with the demo model) a rendered video for `owner` through the API."""

    def add(
        owner: AbstractBaseUser,
        colour: tuple[int, int, int] = BLUE,
        name: str = "clip.mp4",
        **fields: Any,
    ) -> Video:
        data = clip_bytes(tmp_path, colour)
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client(owner).post(
                "/api/videos/", {"file": upload_file(data, name), **fields}, format="multipart"
            )
        assert response.status_code == 201, response.json()
        return Video.objects.get(pk=response.json()["id"])

    return add


def video_tile(html: str, video: Video) -> str:
    """The gallery's tile of `video` (its <li>), or "" when it has none."""
    found = re.search(
        rf'<li class="tile tile--video"[^>]*>\s*'
        rf'<a class="tile__link" href="/videos/{video.pk}/".*?</li>',
        html,
        re.S,
    )
    return found.group(0) if found else ""


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (7.4, "0:07"), (59.6, "1:00"), (102, "1:42"), (3725, "1:02:05"), (None, "")],
)
def test_a_videos_length_reads_as_a_player_shows_it(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_gallery_shows_videos_beside_images_with_poster_and_length(
    alice_page: Client,
    alice: AbstractBaseUser,
    bob: AbstractBaseUser,
    add_image: Any,
    add_video: Any,
) -> None:
    image = add_image(alice, RED, "red.png")
    mine = add_video(alice, BLUE, "holiday.mp4")
    shared = add_video(bob, GREEN, "shared.mp4", visibility="public")
    hidden = add_video(bob, RED, "hidden.mp4")
    assert (mine.status, round(mine.duration)) == ("indexed", 3)

    html = alice_page.get("/").content.decode()

    tile = video_tile(html, mine)
    assert f'src="/api/videos/{mine.pk}/poster/"' in tile
    assert 'alt="holiday.mp4"' in tile
    assert re.search(r'<time class="tile__duration" datetime="PT3S"[^>]*>0:03</time>', tile)
    assert "badge--pending" not in tile
    assert "data-poll-video" not in tile
    assert "by bob" in video_tile(html, shared)
    assert video_tile(html, hidden) == ""
    assert f'href="/images/{image.pk}/"' in html
    assert "1 image and 2 videos." in html
    # The video page the tile links to plays it.
    assert (
        f'src="/api/videos/{mine.pk}/file/'
        in alice_page.get(f"/videos/{mine.pk}/").content.decode()
    )

    only_mine = alice_page.get("/?mine=1").content.decode()
    assert video_tile(only_mine, mine)
    assert video_tile(only_mine, shared) == ""
    assert "1 image and 1 video." in only_mine


def test_an_hour_long_video_shows_hours_in_its_badge(
    alice_page: Client, alice: AbstractBaseUser, add_video: Any
) -> None:
    video = add_video(alice)
    Video.objects.filter(pk=video.pk).update(duration=3725.2)

    tile = video_tile(alice_page.get("/").content.decode(), video)

    assert re.search(r'datetime="PT3725S"[^>]*>1:02:05</time>', tile)


def test_gallery_interleaves_images_and_videos_by_upload_time_across_pages(
    alice_page: Client,
    alice: AbstractBaseUser,
    add_image: Any,
    add_video: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("gallery.views.GALLERY_PAGE_SIZE", 2)
    now = timezone.now()
    oldest = add_image(alice, RED, "oldest.png")
    video = add_video(alice)
    newest = add_image(alice, GREEN, "newest.png")
    older_video = add_video(alice, RED, "older.mp4")
    for age, row in enumerate([newest, video, oldest]):
        type(row).objects.filter(pk=row.pk).update(uploaded_at=now - timedelta(hours=age))
    Video.objects.filter(pk=older_video.pk).update(uploaded_at=now - timedelta(days=1))

    first = alice_page.get("/").content.decode()
    second = alice_page.get("/?page=2").content.decode()

    order = re.findall(r'href="/(?:images|videos)/([0-9a-f-]+)/"', first + second)
    assert order == [str(r.pk) for r in (newest, video, oldest, older_video)]
    assert "2 images and 2 videos, page 1 of 2." in first
    assert 'rel="next" href="?page=2"' in first
    assert 'rel="prev"' in second


def test_gallery_follows_a_video_being_indexed_and_badges_a_failed_one(
    alice_page: Client, alice: AbstractBaseUser, add_video: Any
) -> None:
    indexing = add_video(alice, BLUE, "indexing.mp4")
    Video.objects.filter(pk=indexing.pk).update(status="indexing", progress=0.4)
    failed = add_video(alice, GREEN, "failed.mp4")
    Video.objects.filter(pk=failed.pk).update(status="failed", error="The file went missing.")

    html = alice_page.get("/").content.decode()

    tile = video_tile(html, indexing)
    assert f'data-poll-video="{indexing.pk}"' in tile  # site.js asks the API until it is done
    assert ">Indexing… 40%</span>" in tile
    tile = video_tile(html, failed)
    assert (
        'class="badge badge--failed" data-status-badge title="The file went missing.">Failed'
        in tile
    )
    assert "data-poll-video" not in tile
    # Its own page says how far indexing has come, as a percentage.
    page = alice_page.get(f"/videos/{indexing.pk}/").content.decode()
    assert ">Indexing 40%</span>" in page


def test_gallery_place_and_camera_filters_leave_videos_out(
    alice_page: Client, alice: AbstractBaseUser, add_image: Any, add_video: Any
) -> None:
    image = add_image(alice)
    Image.objects.filter(pk=image.pk).update(camera_make="Canon")
    video = add_video(alice)

    html = alice_page.get("/", {"camera": "canon"}).content.decode()

    assert f'href="/images/{image.pk}/"' in html
    assert video_tile(html, video) == ""
    assert "1 image." in html


def test_upload_page_offers_videos_beside_images(alice_page: Client) -> None:
    html = alice_page.get("/upload/").content.decode()

    accept = re.search(r'<input[^>]*type="file"[^>]*accept="([^"]+)"', html)
    assert accept is not None
    assert accept.group(1).split(",") == [
        "image/*",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "video/x-matroska",
    ]
    assert "Drop images or videos here" in html
    assert "up to 2.0\xa0GB and 180 minutes" in html
    # The script finds where to send a video and where its page is.
    assert 'data-api-videos="/api/videos/"' in html
    assert 'data-video-page="/videos/00000000-0000-0000-0000-000000000000/"' in html


def test_upload_without_javascript_takes_videos_and_refuses_in_words(
    alice_page: Client, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    film = clip_bytes(tmp_path, BLUE)
    files = [
        upload_file(film, "film.mp4"),
        upload_file(b"not a film at all", "notes.mp4"),
        upload_file(image_bytes(picture(RED)), "photo.png"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_page.post(
            "/upload/", {"images": files, "visibility": "public"}, follow=True
        )

    html = response.content.decode()
    assert "film.mp4: uploaded." in html
    assert "notes.mp4: The file is not a video we can read." in html
    assert "photo.png: uploaded." in html
    video = Video.objects.get()
    assert (video.original_filename, video.visibility, video.status) == (
        "film.mp4",
        "public",
        "indexed",
    )
    assert Image.objects.get().original_filename == "photo.png"
    again = alice_page.post(
        "/upload/", {"images": [upload_file(film, "again.mp4")], "visibility": "private"}
    )
    assert again.status_code == 302
    shown = alice_page.get("/upload/").content.decode()
    assert "again.mp4: You have already uploaded this exact video." in shown


def test_the_upload_pages_session_sends_a_video_to_the_api_with_its_csrf_token(
    alice: AbstractBaseUser, tmp_path: Path
) -> None:
    """What site.js does: the page's session, and the page's token in X-CSRFToken."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get("/upload/").content.decode()
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found is not None
    data = clip_bytes(tmp_path, BLUE)

    refused = client.post("/api/videos/", {"file": upload_file(data, "film.mp4")})
    sent = client.post(
        "/api/videos/",
        {"file": upload_file(data, "film.mp4")},
        headers={"X-CSRFToken": found.group(1)},
    )

    assert refused.status_code == 403
    assert sent.status_code == 201, sent.json()
    body = client.get(f"/api/videos/{sent.json()['id']}/").json()
    assert (body["filename"], 0.0 <= body["progress"] <= 1.0) == ("film.mp4", True)
    assert body["status"] in {"pending", "indexing", "indexed"}
