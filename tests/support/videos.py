"""Real video files for the tests, rendered with PyAV: scenes that change at known times.

Small and fast on purpose (160x120 at 10 fps, a few seconds): the suite runs
on two cores.  The encoders are FFmpeg's, from PyAV's wheels, so a file is
what a camera or an editor writes: B-frames, a display matrix, a
creation_time in the container.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.stream import Disposition
from av.video.stream import VideoStream
from PIL import Image as PILImage

from demo import canonical_caption, render_pil
from demo.scenes import sample_scene
from tests.factories import picture

# Codec (FFmpeg's canonical name) -> the encoder that writes it.
ENCODERS = {
    "h264": "libx264",
    "hevc": "libx265",
    "vp8": "libvpx",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "mpeg4": "mpeg4",
    "mjpeg": "mjpeg",
}
# Container (as the file is named) -> FFmpeg's muxer.
MUXERS = {
    "mp4": "mp4",
    "mov": "mov",
    "m4a": "ipod",
    "webm": "webm",
    "mkv": "matroska",
    "avi": "avi",
    "ts": "mpegts",
}
# Encoder options: quiet, and quick at this size.  Not SVT-AV1's fastest
# presets: at 160x120 preset 12 writes a stream that dav1d refuses a few
# frames in.
_OPTIONS = {
    "libx265": {"x265-params": "log-level=error"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
}
AUDIO_RATE = 48_000


def encoder_available(codec: str) -> bool:
    """Whether PyAV's FFmpeg can write `codec` (libx265 is not in every build)."""
    return ENCODERS[codec] in av.codecs_available


def scene_picture(
    colour: tuple[int, int, int], shape: str = "square", size: tuple[int, int] = (160, 120)
) -> PILImage.Image:
    """One scene: a shape on a light background (`tests.factories.picture`)."""
    return picture(colour, size, shape=shape)


def render_video(
    path: Path,
    scenes: Sequence[tuple[float, PILImage.Image]],
    *,
    codec: str = "h264",
    container: str = "mp4",
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    rotation: int = 0,
    creation_time: str | None = None,
    audio: bool = False,
    faststart: bool = False,
    live: bool = False,
) -> Path:
    """Write a video showing each (seconds, picture) scene in turn; return `path`.

    `size` is the frame as stored, as a camera's sensor gives it.  With a
    `rotation` (clockwise degrees a player turns the frames: 90 for a phone
    held upright) the stream carries a display matrix, and each picture,
    given as the viewer sees it, is stored turned the other way: so a player
    that applies the rotation shows the pictures as given, sized `size` with
    its sides swapped for 90 and 270.  `creation_time` (ISO 8601) goes into
    the container's metadata.  With `audio`, a quiet tone plays along (AAC,
    or Opus in WebM).  With `faststart` an MP4's index (moov) comes before
    its media data, as web exports write it: cut short, it still opens. With
    `live` a WebM is written as a browser's MediaRecorder writes it, as it
    goes: no duration and no seek index anywhere.
    """
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90")
    rotation %= 360
    upright = (size[1], size[0]) if rotation in (90, 270) else size
    options = {"movflags": "faststart"} if faststart else {}
    if live:
        options["live"] = "1"
    with av.open(str(path), "w", format=MUXERS[container], options=options) as out:
        if creation_time is not None:
            out.metadata["creation_time"] = creation_time
        encoder = ENCODERS[codec]
        if encoder == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # Errors only, not its banner.
        stream = out.add_stream(encoder, rate=fps, options=_OPTIONS.get(encoder, {}))
        assert isinstance(stream, VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.time_base = Fraction(1, fps)
        if rotation:
            # PyAV's degrees are counter-clockwise (as `frame.rotation` reads them).
            stream.set_display_rotation(-rotation)
        sound = _add_audio(out, container) if audio else None
        index = 0
        for seconds, scene in scenes:
            shown = scene.convert("RGB").resize(upright)
            # Turned counter-clockwise by `rotation`: what the sensor saw.
            stored = shown.rotate(rotation, expand=True) if rotation else shown
            for _ in range(max(1, round(seconds * fps))):
                frame = av.VideoFrame.from_image(stored)
                frame.pts = index
                out.mux(stream.encode(frame))
                index += 1
        out.mux(stream.encode(None))
        if sound is not None:
            _write_audio(out, sound, seconds=index / fps)
    return path


def render_audio_only(path: Path, seconds: float = 1.0, *, cover_art: bool = False) -> Path:
    """An audio file with no video: AAC in an .m4a or .mp4, Opus in a .webm (by the suffix).

    With `cover_art` (an .mp4 only: the muxer writes it as the `covr` tag) the
    file carries a JPEG picture, which FFmpeg shows as a one-frame video
    stream marked as an attached picture, as music files from a shop do.
    """
    container = path.suffix.lstrip(".")
    with av.open(str(path), "w", format=MUXERS[container]) as out:
        sound = _add_audio(out, container)
        if cover_art:
            cover = out.add_stream("mjpeg", rate=1)
            assert isinstance(cover, VideoStream)
            cover.width, cover.height = 160, 120
            cover.pix_fmt = "yuvj420p"
            cover.disposition = Disposition.attached_pic
            frame = av.VideoFrame.from_image(scene_picture((200, 120, 40)))
            frame.pts = 0
            out.mux(cover.encode(frame))
            out.mux(cover.encode(None))
        _write_audio(out, sound, seconds=seconds)
    return path


def _add_audio(out: OutputContainer, container: str) -> AudioStream:
    encoder = "libopus" if container == "webm" else "aac"
    stream = out.add_stream(encoder, rate=AUDIO_RATE)
    assert isinstance(stream, AudioStream)
    stream.layout = "mono"
    return stream


def _write_audio(out: OutputContainer, stream: AudioStream, *, seconds: float) -> None:
    """A 440 Hz tone, at the encoder's frame size."""
    step = stream.codec_context.frame_size or 1024
    total = round(seconds * AUDIO_RATE)
    for start in range(0, total, step):
        t = (np.arange(start, start + step) / AUDIO_RATE).astype(np.float32)
        samples = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


# Seconds on screen of each scene of `captioned_film`; the second runs from 2.0 to 5.0.
FILM_LENGTHS = (2.0, 3.0, 2.0)


def captioned_film(path: Path) -> tuple[bytes, list[str]]:
    """A film of three distinct one-object demo scenes (`FILM_LENGTHS`), and each one's
    caption: a text query for the second finds the film at 2 to 5 seconds."""
    rng = random.Random(5)
    scenes = [sample_scene(rng, 1) for _ in FILM_LENGTHS]
    assert len({canonical_caption(s) for s in scenes}) == len(scenes)
    shots = [(n, render_pil(s, 160, 120, rng)) for n, s in zip(FILM_LENGTHS, scenes, strict=True)]
    return render_video(path, shots, fps=12).read_bytes(), [canonical_caption(s) for s in scenes]
