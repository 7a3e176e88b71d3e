"""Moments: where a rendered video's scenes change, and keyframes within long scenes."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from demo import render_pil
from demo.scenes import sample_scene
from gallery.moments import SAMPLE_EVERY, video_moments
from gallery.videoprobe import video_probe
from tests.support.videos import render_video

# Seconds each demo scene is on screen: cuts at 1.0, 4.5, 5.5 and 10.0.
LENGTHS = (1.0, 3.5, 1.0, 4.5, 1.5)


@pytest.fixture(scope="module")
def scenes() -> list[PILImage.Image]:
    rng = random.Random(7)
    return [render_pil(sample_scene(rng), 160, 120, rng) for _ in LENGTHS]


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory, scenes: list[PILImage.Image]) -> Path:
    path = tmp_path_factory.mktemp("film") / "film.mp4"
    return render_video(path, list(zip(LENGTHS, scenes, strict=True)), fps=12)


def test_a_moment_begins_at_every_cut_and_within_long_scenes(film: Path) -> None:
    info = video_probe(film)

    moments = list(video_moments(film, info, frame_side=80, interval=2.0, max_moments=100))

    cuts = [m.start for m in moments if m.cut]
    assert cuts == pytest.approx([1.0, 4.5, 5.5, 10.0], abs=SAMPLE_EVERY)
    # Back to back from 0 to the end, none longer than the interval.
    assert moments[0].start == 0.0
    assert all(a.end == b.start for a, b in itertools.pairwise(moments))
    assert moments[-1].end == pytest.approx(info.duration)
    assert max(m.end - m.start for m in moments) <= 2.0 + 1e-6
    # The 3.5 s scene gets a second keyframe within it, after 2 s.
    assert [m.start for m in moments if 1.0 <= m.start < 4.5] == pytest.approx([1.0, 3.0], abs=0.1)


def test_each_keyframe_shows_its_own_scene(film: Path, scenes: list[PILImage.Image]) -> None:
    info = video_probe(film)
    starts = np.cumsum((0.0, *LENGTHS))

    for moment in video_moments(film, info, frame_side=80, interval=2.0, max_moments=100):
        scene = int(np.searchsorted(starts, moment.start + 1e-3, side="right")) - 1
        shown = np.asarray(moment.frame.resize((16, 12)), dtype=np.float32)
        closest = min(
            range(len(scenes)),
            key=lambda i: np.abs(
                np.asarray(scenes[i].resize((16, 12)), dtype=np.float32) - shown
            ).mean(),
        )
        assert closest == scene, moment.start
        assert max(moment.frame.size) == 80


def test_a_video_never_has_more_than_its_cap_of_moments(film: Path) -> None:
    info = video_probe(film)

    moments = list(video_moments(film, info, frame_side=80, interval=0.5, max_moments=4))

    assert len(moments) <= 4
    assert moments[-1].end == pytest.approx(info.duration)


def test_resuming_from_a_moment_gives_the_moments_after_it(film: Path) -> None:
    info = video_probe(film)
    whole = list(video_moments(film, info, frame_side=80, interval=2.0, max_moments=100))
    resume = whole[3]

    rest = list(
        video_moments(film, info, frame_side=80, interval=2.0, max_moments=100, start=resume.start)
    )

    assert [m.start for m in rest] == pytest.approx([m.start for m in whole[3:]], abs=1e-6)
