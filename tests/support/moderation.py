"""A real flagged video for the review tests: rendered, uploaded and indexed with the demo
model, one of whose moments crosses a moderation concept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from rest_framework.test import APIClient

from gallery.models import Video, VideoMoment
from tests.factories import picture
from tests.support.videos import render_video

# The concept the red triangle crosses, and its threshold (the blue square stays under it).
CROSSED_CONCEPT = {"a red triangle": 0.2}


def upload_crossing_video(
    client: APIClient,
    post_video: Callable[..., Any],
    settings: Any,
    tmp_path: Path,
    *,
    visibility: str = "public",
    name: str = "mixed.mp4",
) -> Video:
    """Two seconds of a blue square, then two of a red triangle, screened for "a red
    triangle" (as tests/gallery/test_video_indexing.py makes a moment cross): uploaded
    through the API by `client`'s user with `post_video`, indexed, and flagged."""
    settings.MODERATION_CONCEPTS = CROSSED_CONCEPT
    calm = picture((30, 60, 220), (160, 120), shape="square")
    flagged = PILImage.new("RGB", (160, 120), (245, 245, 245))
    flagged.paste(picture((220, 30, 30), (160, 120), shape="triangle"))
    path = render_video(tmp_path / name, [(2.0, calm), (2.0, flagged)], fps=12)
    response = post_video(client, path.read_bytes(), name, visibility=visibility)
    video = Video.objects.get(pk=response.json()["id"])
    assert (video.status, video.moderation) == ("indexed", "flagged")
    return video


def split_moments(video: Video) -> tuple[list[VideoMoment], list[VideoMoment]]:
    """The video's moments that crossed a concept, and those that did not (both, or the
    tests prove nothing)."""
    moments = list(video.moments.order_by("start"))
    crossed = [m for m in moments if m.flagged]
    calm = [m for m in moments if not m.flagged]
    assert crossed
    assert calm
    return crossed, calm


def clock(seconds: float) -> str:
    """m:ss as the site's pages show a time (whole seconds, rounded)."""
    whole = int(seconds + 0.5)
    return f"{whole // 60}:{whole % 60:02d}"
