"""A video in a real browser: found by what its second scene shows, opened from the result at
that moment, and sought from its moments strip (the player's `currentTime`)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from demo import canonical_caption, render_pil
from demo.scenes import sample_scene
from gallery.models import Video
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, api_client, make_user, upload_file
from tests.support.videos import render_video

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The second scene is on screen from 2.0 to 5.0 s.
LENGTHS = (2.0, 3.0, 2.0)


def current_time(page: Any) -> float:
    player = page.locator("video")
    # Wait until the player has its metadata, so a seek has been applied.
    page.wait_for_function("document.querySelector('video').readyState >= 1", timeout=30_000)
    return float(player.evaluate("v => v.currentTime"))


def test_a_search_result_opens_the_video_at_its_moment(page: Any, tmp_path: Path) -> None:
    rng = random.Random(5)
    scenes = [sample_scene(rng, 1) for _ in LENGTHS]
    shots = [(n, render_pil(s, 160, 120, rng)) for n, s in zip(LENGTHS, scenes, strict=True)]
    # VP9 in WebM: what every Chromium build plays.
    path = render_video(tmp_path / "film.webm", shots, codec="vp9", container="webm", fps=12)
    alice = make_user("alice")
    response = api_client(alice).post(
        "/api/videos/", {"file": upload_file(path.read_bytes(), "film.webm")}, format="multipart"
    )
    video = Video.objects.get(pk=response.json()["id"])
    assert video.status == "indexed"  # no broker: indexed after the upload's commit
    sign_in(page, "alice", PASSWORD)

    page.goto(f"/search/?q={canonical_caption(scenes[1])}&mode=semantic")
    tile = page.locator(".tile--video a").first
    href = tile.get_attribute("href")
    assert href.startswith(f"/videos/{video.pk}/?t=")
    start = float(href.split("?t=")[1])
    assert 1.0 <= start < 5.0
    tile.click()

    assert current_time(page) == pytest.approx(start, abs=0.2)

    # A moment in the strip seeks the player there.
    last = page.locator("[data-seek]").last
    wanted = float(last.get_attribute("data-seek"))
    last.click()
    expect(page).to_have_url(f"/videos/{video.pk}/?t={wanted:.1f}")
    assert float(page.locator("video").evaluate("v => v.currentTime")) >= wanted - 0.2
