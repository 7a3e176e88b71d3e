"""A video's moments: where its scenes change, and a keyframe for each stretch of a scene.

Frames are sampled every `SAMPLE_EVERY` seconds at the size the model needs.
A moment begins where a sample's colour histogram moves far from the one
before it (a cut) or from its moment's keyframe (a slow change: a pan, a
fade), and at least every `interval` seconds within a long scene. Moments are
never closer than the video's length over `max_moments`, so a video has at
most that many.

Histograms, not CLIP distances between samples: a cut must be seen between
two samples, so detection runs on every sample (four a second), and a CLIP
forward for each would cost eight times the encoding of the moments themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from gallery.videoprobe import VideoInfo, video_frames

# Seconds between the frames scene detection looks at.
SAMPLE_EVERY = 0.25
# Half the L1 distance between normalised HSV histograms, 0..1: above it, a
# new scene. On 30 cuts between demo scenes (scripts in bench/video.py) the
# samples of one scene stayed within 0.01 and cuts measured 0.20 to 1.0
# (median 0.997); the lowest was two scenes on one background.
CUT_DISTANCE = 0.18
_BINS = (8, 4, 4)
_HISTOGRAM_SIDE = 32


@dataclass(frozen=True)
class Moment:
    """Seconds `start` to `end` of a video, shown by `frame` (taken at `start`)."""

    start: float
    end: float
    frame: PILImage.Image
    # Whether a scene change began it (else the interval within a scene did).
    cut: bool


def video_moments(
    path: str | Path,
    info: VideoInfo,
    *,
    frame_side: int,
    interval: float,
    max_moments: int,
    start: float = 0.0,
) -> Iterator[Moment]:
    """The moments of the video at `path`, in order, each once it has ended.

    `frame_side`: the long side of each keyframe. From `start` (a moment's
    start, to resume a video) the first moment begins there.
    """
    spacing = max(info.duration / max_moments, SAMPLE_EVERY)
    current: Moment | None = None
    keyframe = previous = np.zeros(0)
    for at, frame in video_frames(path, info, every=SAMPLE_EVERY, max_side=frame_side, start=start):
        colours = _histogram(frame)
        if current is None:
            current, keyframe, previous = Moment(at, at, frame, False), colours, colours
            continue
        cut = max(_distance(colours, previous), _distance(colours, keyframe)) > CUT_DISTANCE
        previous = colours
        elapsed = at - current.start
        if (cut or elapsed >= interval - SAMPLE_EVERY / 2) and elapsed >= spacing:
            yield Moment(current.start, at, current.frame, current.cut)
            current, keyframe = Moment(at, at, frame, cut), colours
    if current is not None:
        yield Moment(current.start, max(info.duration, current.start), current.frame, current.cut)


def _histogram(frame: PILImage.Image) -> np.ndarray:
    small = frame.resize((_HISTOGRAM_SIDE, _HISTOGRAM_SIDE), PILImage.Resampling.BILINEAR)
    hsv = np.asarray(small.convert("HSV"), dtype=np.uint16).reshape(-1, 3)
    bins = np.asarray(_BINS, dtype=np.uint16)
    cells = hsv * bins // 256
    index = (cells[:, 0] * bins[1] + cells[:, 1]) * bins[2] + cells[:, 2]
    counts = np.bincount(index, minlength=int(np.prod(bins))).astype(np.float32)
    return counts / counts.sum()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).sum()) / 2
