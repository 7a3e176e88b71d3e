"""Feedback on the search page, in a real browser: mark a result relevant from the keyboard,
change the mark, open the result, and see each fact land in the one feedback row."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from gallery.services import image_create
from search.models import Feedback
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, image_bytes, make_user, picture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _eventually(check: Any, timeout: float = 10.0) -> None:
    """An open is sent as the page leaves: give the live server a moment to store it."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("feedback never arrived")
        time.sleep(0.1)


def test_mark_a_result_relevant_then_not_then_open_it(page: Any, screenshot: Any) -> None:
    alice = make_user("alice")
    images = {
        name: image_create(
            owner=alice,
            upload=ContentFile(image_bytes(picture(colour, (240, 160), shape=shape)), name=name),
        )
        for name, colour, shape in (
            ("red-circle.png", (220, 30, 30), "circle"),
            ("green-square.png", (30, 160, 40), "square"),
            ("blue-triangle.png", (30, 60, 220), "triangle"),
        )
    }
    red = images["red-circle.png"]
    sign_in(page, "alice", PASSWORD)

    page.goto("/search/?q=a+red+circle&mode=semantic")
    tile = page.locator(".grid--results .tile", has=page.locator(f'a[href="/images/{red.pk}/"]'))
    relevant = tile.get_by_role("button", name="Relevant", exact=True)
    not_relevant = tile.get_by_role("button", name="Not relevant")
    expect(relevant).to_be_visible()
    expect(relevant).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("group", name="Is red-circle.png what you looked for?")).to_be_visible()

    # From the keyboard: the control is a real button.
    relevant.focus()
    page.keyboard.press("Enter")
    expect(relevant).to_have_attribute("aria-pressed", "true")
    expect(not_relevant).to_have_attribute("aria-pressed", "false")
    row = Feedback.objects.get()
    assert (row.user_id, row.kind, row.item_id, row.relevant, row.opened) == (
        alice.pk,
        "image",
        red.pk,
        True,
        False,
    )
    assert row.mode == "semantic"
    rank = row.rank
    assert rank == 1 + [t.get_attribute("href") for t in page.locator(".tile__link").all()].index(
        f"/images/{red.pk}/"
    )
    screenshot(page, "search-feedback")

    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(not_relevant).to_have_attribute("aria-pressed", "true")
    expect(relevant).to_have_attribute("aria-pressed", "false")
    assert Feedback.objects.get().relevant is False

    # Following the result's link records an open, and keeps the mark.
    tile.locator("a.tile__link").click()
    page.wait_for_url(f"**/images/{red.pk}/")
    _eventually(lambda: Feedback.objects.get().opened)
    row = Feedback.objects.get()
    assert (row.relevant, row.opened, row.rank) == (False, True, rank)
    assert page.js_errors == []
