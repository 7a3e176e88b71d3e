"""Words on pages, in a real browser: upload a picture, caption it on its page, find it by a
word of the caption, and see that word marked in the result."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from gallery.models import Image
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, image_bytes, make_user, picture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INDEXING = 120_000  # ms: indexing shares the CPU with everything else in CI


def test_caption_an_image_then_find_it_by_a_word_of_the_caption(page: Any, screenshot: Any) -> None:
    make_user("alice")
    sign_in(page, "alice", PASSWORD)

    # Upload through the page, and wait until it is indexed.
    page.goto("/upload/")
    page.locator("input[type=file]").set_input_files(
        {
            "name": "boats.png",
            "mimeType": "image/png",
            "buffer": image_bytes(picture((40, 80, 210), (480, 360), shape="triangle")),
        }
    )
    expect(page.locator('.upload-item[data-state="indexed"]')).to_have_count(1, timeout=INDEXING)
    image = Image.objects.get(original_filename="boats.png")

    # Caption it on its page; the caption shows, escaped, once saved.
    page.goto(f"/images/{image.pk}/")
    page.get_by_label("Caption").fill("Fishing boats in the <harbour> at dawn")
    page.get_by_label("Show where this was taken to others").check()
    page.get_by_role("button", name="Save caption and sharing").click()
    expect(page.get_by_text("boats.png: saved.")).to_be_visible()
    expect(page.locator("[data-caption]")).to_have_text("Fishing boats in the <harbour> at dawn")
    expect(page.get_by_label("Show where this was taken to others")).to_be_checked()
    screenshot(page, "image-caption", full_page=True)

    # Search by a word of the caption: the result says its words matched, and marks them.
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Describe what you are looking for").fill("harbour")
    page.get_by_label("Describe what you are looking for").press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=harbour$"))  # the default mode stays out
    tile = page.locator(".grid--results .tile", has=page.locator(f'a[href="/images/{image.pk}/"]'))
    expect(tile).to_have_count(1)
    expect(tile.locator(".badge--text")).to_have_text("text")
    expect(tile.locator(".tile__snippet mark")).to_have_text("harbour")
    expect(tile.locator(".tile__snippet")).to_contain_text("in the <harbour> at dawn")
    screenshot(page, "search-snippet")

    # Words only: the same image, with the mode in the URL and kept in the form.
    page.get_by_label("Match by").select_option("text")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"q=harbour&mode=text$"))
    expect(page.locator(".grid--results .tile")).to_have_count(1)
    expect(page.locator(".grid--results .tile__snippet mark")).to_have_text("harbour")
    assert page.js_errors == []


def test_recognised_words_are_boxed_on_the_picture_when_asked(page: Any, screenshot: Any) -> None:
    from gallery.services import image_create
    from tests.support.photos import require_ocr, words_picture

    require_ocr()
    alice = make_user("alice")
    sign = image_bytes(words_picture(["OPEN DAILY", "FRESH BREAD"]))
    image = image_create(owner=alice, upload=ContentFile(sign, name="bakery.png"))
    sign_in(page, "alice", PASSWORD)

    page.goto(f"/images/{image.pk}/")
    expect(page.locator("[data-recognised-text]")).to_contain_text("BREAD")
    boxes = page.locator(".word-box")
    assert boxes.count() >= 4
    expect(boxes.first).to_be_hidden()

    page.get_by_label("Show the words recognised on the picture").check()
    expect(boxes.first).to_be_visible()
    # Each box sits on the picture, around its word.
    picture = page.locator(".detail__img").bounding_box()
    right, bottom = picture["x"] + picture["width"] + 1, picture["y"] + picture["height"] + 1
    for index in range(boxes.count()):
        box = boxes.nth(index).bounding_box()
        assert picture["x"] <= box["x"] < box["x"] + box["width"] <= right
        assert picture["y"] <= box["y"] < box["y"] + box["height"] <= bottom
    screenshot(page, "image-words")
    assert page.js_errors == []
