"""A video uploaded on the upload page in a real browser: its upload's progress bar, then its
indexing's (the page asks GET /api/videos/{id}/ for `status` and `progress`) until it is done,
and then its tile in the gallery, with its poster and its length."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from demo import render_pil
from demo.scenes import sample_scene
from gallery import videos
from gallery.models import Video
from tests.browser.conftest import _OneRequestAtATime, sign_in
from tests.factories import PASSWORD, make_user
from tests.support.videos import render_video

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FPS = 12
UPLOAD_SECONDS = 3  # how long the throttled upload takes, so the page shows it going


@pytest.fixture
def held_index(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Hold back the indexing an upload queues; calling the result lets it run (for real).

    Without a broker the task runs as the upload commits, so the page would only ever see
    a finished video. Held, the test moves the video through its states while the page
    polls. It runs while the live server serves nothing (its lock): under test the server
    and the test share one database connection.
    """
    queued: list[str] = []
    enqueue = videos.video_enqueue
    monkeypatch.setattr(
        videos, "video_enqueue", lambda *, video_id, headers=None: queued.append(video_id)
    )

    def release() -> None:
        with _OneRequestAtATime._lock:
            for video_id in queued:
                enqueue(video_id=video_id)

    return release


def grainy_film(path: Path) -> Path:
    """Seven seconds of two demo scenes under film grain: VP9 in WebM (what every Chromium
    build plays), and a file of a megabyte or so, as grain does not compress. The browser
    reports an upload's progress as it hands over each part of the body: a file of a few
    kilobytes goes as one."""
    rng = random.Random(11)
    noise = np.random.default_rng(11)
    frames = []
    for seconds in (3, 4):
        scene = np.asarray(render_pil(sample_scene(rng, 1), 160, 120, rng).convert("RGB"))
        for _ in range(seconds * FPS):
            grain = noise.normal(0, 24, scene.shape)
            frame = np.clip(scene + grain, 0, 255).astype(np.uint8)
            frames.append((1 / FPS, PILImage.fromarray(frame)))
    return render_video(path, frames, codec="vp9", container="webm", fps=FPS)


def progress_of(page: Any, selector: str) -> float:
    return float(page.locator(selector).evaluate("bar => bar.value"))


def test_a_video_uploaded_on_the_page_shows_its_progress_then_its_tile(
    page: Any, tmp_path: Path, held_index: Callable[[], None]
) -> None:
    path = grainy_film(tmp_path / "walk.webm")
    make_user("alice")
    sign_in(page, "alice", PASSWORD)
    page.get_by_role("link", name="Upload", exact=True).click()
    # A slow uplink, so that the upload takes a few seconds.
    network = page.context.new_cdp_session(page)
    network.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": path.stat().st_size / UPLOAD_SECONDS,
        },
    )

    page.locator("input[type=file]").set_input_files(str(path))

    item = page.locator(".upload-item", has_text="walk.webm")
    uploading = item.locator("progress.upload-item__upload")
    # The upload's bar moves while the bytes go.
    page.wait_for_function(
        "() => { const bar = document.querySelector('progress.upload-item__upload');"
        " return bar && bar.value > 0 && bar.value < 100; }",
        polling=50,
    )
    expect(item).to_have_attribute("data-state", "uploading")
    expect(item.locator(".upload-item__status")).to_contain_text("Uploading…")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    # Uploaded: the indexing's bar takes over, waiting for the worker.
    indexing = item.locator("progress.upload-item__indexing")
    expect(item.locator(".upload-item__status")).to_have_text("Uploaded. Waiting to be indexed…")
    expect(uploading).to_be_hidden()
    expect(indexing).to_be_visible()
    assert progress_of(page, "progress.upload-item__indexing") == 0
    with _OneRequestAtATime._lock:  # the page polls meanwhile, on the same connection
        video = Video.objects.get()
    assert video.status == "pending"

    # Half way, as the API reports it.
    with _OneRequestAtATime._lock:
        Video.objects.filter(pk=video.pk).update(status="indexing", progress=0.5)
    expect(item.locator(".upload-item__status")).to_have_text("Uploaded. Indexing… 50%")
    assert progress_of(page, "progress.upload-item__indexing") == 50

    # The real indexing, to the end.
    held_index()
    with _OneRequestAtATime._lock:
        video.refresh_from_db()
    assert video.status == "indexed"
    expect(item).to_have_attribute("data-state", "indexed")
    expect(item.locator(".upload-item__status")).to_have_text("Indexed: ready to search.")
    assert progress_of(page, "progress.upload-item__indexing") == 100
    expect(item.get_by_role("link", name="View")).to_have_attribute("href", f"/videos/{video.pk}/")

    # The gallery shows it, with its poster and its length.
    page.get_by_role("link", name="Gallery", exact=True).click()
    tile = page.locator(".tile--video")
    expect(tile).to_have_count(1)
    expect(tile.locator(".tile__duration")).to_have_text("0:07")
    expect(tile.locator(".badge--pending, .badge--failed")).to_have_count(0)
    poster = tile.locator("img")
    expect(poster).to_have_attribute("src", f"/api/videos/{video.pk}/poster/")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=poster.element_handle()
    )
    tile.locator("a").click()
    expect(page).to_have_url(f"/videos/{video.pk}/")
    expect(page.locator("video")).to_be_visible()
    assert page.js_errors == []
