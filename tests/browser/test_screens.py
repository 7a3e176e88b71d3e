"""Pages in a real browser: staff status, narrow screens, keyboard use."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from gallery.services import image_create
from tests.browser.conftest import PHONE, sign_in
from tests.factories import PASSWORD, image_bytes, make_user, picture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLOURS = {
    "red": (215, 35, 35),
    "green": (40, 160, 60),
    "blue": (40, 80, 210),
    "yellow": (240, 200, 30),
    "purple": (130, 50, 160),
    "orange": (240, 130, 30),
}


def library(owner: Any) -> None:
    shapes = ("circle", "square", "triangle")
    for i, (name, colour) in enumerate(COLOURS.items()):
        shape = shapes[i % 3]
        data = image_bytes(picture(colour, (480, 360), shape=shape))
        image_create(owner=owner, upload=ContentFile(data, name=f"{name}-{shape}.png"))


def test_staff_status_page(page: Any, screenshot: Any) -> None:
    staff = make_user("sam", is_staff=True)
    library(staff)
    sign_in(page, "sam", PASSWORD)

    page.get_by_role("link", name="Status").click()

    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    expect(page.locator('[data-status="indexed"]')).to_have_text("6")
    expect(page.locator("[data-index-size]")).to_have_text("6")
    expect(page.locator("[data-queue]")).to_contain_text("in process")
    screenshot(page, "staff-status")


def test_gallery_on_a_narrow_screen(open_page: Any, screenshot: Any) -> None:
    owner = make_user("alice")
    library(owner)
    page = open_page(PHONE)
    sign_in(page, "alice", PASSWORD)

    tiles = page.locator(".tile")
    expect(tiles).to_have_count(6)
    # Two columns, nothing wider than the screen.
    boxes = [tiles.nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"]
    assert boxes[1]["x"] + boxes[1]["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "gallery-narrow")


def test_keyboard_reaches_the_skip_link_and_the_search_box(page: Any) -> None:
    make_user("alice")
    sign_in(page, "alice", PASSWORD)

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    page.goto("/search/")
    box = page.get_by_label("Describe what you are looking for")
    box.focus()
    page.keyboard.type("-dogs")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text(
        "A query needs something to look for, not only things to avoid"
    )
    assert page.js_errors == []
