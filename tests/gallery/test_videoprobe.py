"""Video probing, posters and frames, on real files rendered with PyAV's encoders."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import av
import pytest
from django.conf import LazySettings
from PIL import Image as PILImage
from PIL import ImageDraw, ImageStat

from gallery.videoprobe import InvalidVideo, video_frames, video_poster, video_probe
from tests.factories import image_bytes
from tests.support.videos import encoder_available, render_audio_only, render_video, scene_picture

RED = (220, 30, 30)
BLUE = (30, 30, 220)
GREEN = (30, 200, 30)
YELLOW = (230, 210, 20)
BACKGROUND = (245, 245, 245)
FPS = 10
FRAME = 1 / FPS


def colour_at(image: PILImage.Image, x: float, y: float) -> tuple[float, ...]:
    """The mean colour of a small patch centred at (`x`, `y`), as fractions of the size."""
    w, h = image.size
    cx, cy, r = int(x * w), int(y * h), max(2, min(w, h) // 16)
    return tuple(ImageStat.Stat(image.crop((cx - r, cy - r, cx + r, cy + r))).mean)


def near(colour: tuple[float, ...], expected: tuple[int, int, int], tolerance: float = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def scenes(
    *colours: tuple[int, int, int], seconds: float = 1.0
) -> list[tuple[float, PILImage.Image]]:
    return [(seconds, scene_picture(colour)) for colour in colours]


def two_scenes(path: Path, **options: Any) -> Path:
    """Red for a second, then blue for a second."""
    return render_video(path, scenes(RED, BLUE), **options)


def refused(path: Path, *, size: int | None = None) -> InvalidVideo:
    with pytest.raises(InvalidVideo) as caught:
        video_probe(path, size=size)
    assert caught.value.status == 400
    return caught.value


def marked(size: tuple[int, int]) -> PILImage.Image:
    """Upright, with a green bar down the left side and a blue one along the top."""
    image = PILImage.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle((0, 0, w // 4, h), fill=GREEN)
    draw.rectangle((w // 4, 0, w, h // 5), fill=BLUE)
    return image


def assert_upright(image: PILImage.Image) -> None:
    assert near(colour_at(image, 0.1, 0.6), GREEN), colour_at(image, 0.1, 0.6)
    assert near(colour_at(image, 0.65, 0.08), BLUE), colour_at(image, 0.65, 0.08)
    assert near(colour_at(image, 0.85, 0.6), BACKGROUND)
    assert near(colour_at(image, 0.6, 0.9), BACKGROUND)


ACCEPTED = [
    ("h264", "mp4", "mp4", "mp4"),
    ("h264", "mov", "mp4", "mov"),
    ("vp8", "webm", "webm", "webm"),
    ("vp9", "webm", "webm", "webm"),
    ("av1", "mkv", "mkv", "mkv"),
    ("h264", "mkv", "mkv", "mkv"),
    pytest.param(
        "hevc",
        "mp4",
        "mp4",
        "mp4",
        marks=pytest.mark.skipif(not encoder_available("hevc"), reason="no H.265 encoder"),
    ),
]


@pytest.mark.parametrize(("codec", "container", "video_format", "extension"), ACCEPTED)
def test_probe_reads_each_accepted_container_and_codec(
    tmp_path: Path, codec: str, container: str, video_format: str, extension: str
) -> None:
    path = render_video(
        tmp_path / f"clip.{container}",
        [(1.0, scene_picture(RED)), (1.5, scene_picture(BLUE))],
        codec=codec,
        container=container,
        fps=FPS,
    )

    info = video_probe(path)

    assert (info.format, info.codec, info.extension) == (video_format, codec, extension)
    assert (info.width, info.height) == (160, 120)
    assert info.duration == pytest.approx(2.5, abs=FRAME)
    assert info.frame_rate == pytest.approx(FPS)
    assert info.rotation == 0
    assert info.taken_at is None


@pytest.mark.parametrize("container", ["mp4", "webm"])
def test_probe_reads_the_video_beside_an_audio_track(tmp_path: Path, container: str) -> None:
    codec = "vp9" if container == "webm" else "h264"
    path = two_scenes(tmp_path / f"clip.{container}", codec=codec, container=container, audio=True)

    info = video_probe(path)

    assert (info.codec, info.width, info.height) == (codec, 160, 120)
    assert info.duration == pytest.approx(2.0, abs=FRAME)


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv"])
def test_probe_reads_the_creation_time_in_utc(tmp_path: Path, container: str) -> None:
    path = two_scenes(
        tmp_path / f"clip.{container}", container=container, creation_time="2021-05-06T07:08:09Z"
    )

    taken_at = video_probe(path).taken_at

    assert taken_at is not None
    assert taken_at.isoformat() == "2021-05-06T07:08:09+00:00"


@pytest.mark.parametrize(
    ("container", "rotation"), [("mp4", 90), ("mov", 180), ("mkv", 270), ("mp4", 270)]
)
def test_rotated_video_is_reported_upright_and_shown_upright(
    tmp_path: Path, container: str, rotation: int
) -> None:
    upright = (120, 160) if rotation in (90, 270) else (160, 120)
    path = render_video(
        tmp_path / f"phone.{container}",
        [(1.0, marked(upright)), (1.0, marked(upright))],
        container=container,
        rotation=rotation,
    )
    # The file really stores the frames turned: shown as stored, the marks move.
    with av.open(str(path)) as raw:
        stored = next(raw.decode(video=0)).to_image()
    assert stored.size == (160, 120)
    assert not near(colour_at(stored, 0.1, 0.6), GREEN)

    info = video_probe(path)
    poster = video_poster(path, info)
    frames = list(video_frames(path, info, every=1.0, max_side=80))

    assert info.rotation == rotation
    assert (info.width, info.height) == upright
    assert poster.size == upright
    assert_upright(poster)
    assert [image.size for _, image in frames] == [
        (60, 80) if rotation in (90, 270) else (80, 60)
    ] * 2
    for _, image in frames:
        assert_upright(image)


@pytest.mark.parametrize(("codec", "container"), [("h264", "mp4"), ("vp9", "webm"), ("av1", "mkv")])
def test_poster_shows_the_scene_on_screen_at_the_time(
    tmp_path: Path, codec: str, container: str
) -> None:
    path = two_scenes(tmp_path / f"clip.{container}", codec=codec, container=container)
    info = video_probe(path)

    assert near(colour_at(video_poster(path, info, at=0.5), 0.5, 0.5), RED)
    assert near(colour_at(video_poster(path, info, at=1.5), 0.5, 0.5), BLUE)
    # By default a second in: past the red opening here.
    assert near(colour_at(video_poster(path, info), 0.5, 0.5), BLUE)
    # Past the end: the last frame.
    assert near(colour_at(video_poster(path, info, at=30.0), 0.5, 0.5), BLUE)


def test_poster_of_a_short_video_is_its_middle(tmp_path: Path) -> None:
    path = render_video(
        tmp_path / "short.mp4",
        [(0.3, scene_picture(RED)), (0.3, scene_picture(BLUE)), (0.4, scene_picture(GREEN))],
    )
    info = video_probe(path)

    poster = video_poster(path, info)

    assert poster.mode == "RGB"
    assert near(colour_at(poster, 0.5, 0.5), BLUE)


@pytest.mark.parametrize(("codec", "container"), [("h264", "mp4"), ("vp8", "webm")])
def test_frames_come_every_interval_across_the_whole_video(
    tmp_path: Path, codec: str, container: str
) -> None:
    colours = [RED, BLUE, GREEN, YELLOW]
    path = render_video(
        tmp_path / f"clip.{container}", scenes(*colours), codec=codec, container=container
    )
    info = video_probe(path)

    frames = list(video_frames(path, info, every=1.0, max_side=64))

    assert [t for t, _ in frames] == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=FRAME)
    for (_, image), colour in zip(frames, colours, strict=True):
        assert image.size == (64, 48)
        assert image.mode == "RGB"
        assert near(colour_at(image, 0.5, 0.5), colour)


def test_frames_at_a_short_interval_are_about_that_far_apart(tmp_path: Path) -> None:
    path = two_scenes(tmp_path / "clip.mp4", size=(96, 64))
    info = video_probe(path)

    times = [t for t, _ in video_frames(path, info, every=0.25, max_side=200)]
    sizes = {image.size for _, image in video_frames(path, info, every=0.5, max_side=200)}

    assert times[0] == 0.0
    assert times[-1] >= 2.0 - 0.25 - FRAME
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.25 - FRAME <= gap <= 0.25 + FRAME for gap in gaps), times
    assert sizes == {(96, 64)}  # Never scaled up.


# Refusals


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("clip.avi", lambda p: two_scenes(p, container="avi")),
        ("clip.ts", lambda p: two_scenes(p, container="ts")),
        ("photo.png", lambda p: p.write_bytes(image_bytes())),
        ("photo.avif", lambda p: p.write_bytes(image_bytes(fmt="AVIF"))),
    ],
)
def test_probe_refuses_other_formats(tmp_path: Path, name: str, write: object) -> None:
    path = tmp_path / name
    write(path)  # type: ignore[operator]

    error = refused(path)

    assert error.code == "unsupported_video_format"
    assert "MP4, MOV, WebM and MKV" in error.message


@pytest.mark.parametrize(("codec", "container"), [("mpeg4", "mp4"), ("mjpeg", "mkv")])
def test_probe_refuses_unsupported_codecs(tmp_path: Path, codec: str, container: str) -> None:
    path = two_scenes(tmp_path / f"clip.{container}", codec=codec, container=container)

    error = refused(path)

    assert error.code == "unsupported_video_codec"
    assert error.detail == {"codec": codec}


def test_probe_refuses_a_codec_ffmpeg_does_not_know(tmp_path: Path) -> None:
    video = two_scenes(tmp_path / "clip.mp4")
    data = video.read_bytes()
    # The sample entry's four-character code: FFmpeg then has no decoder for the track.
    at = data.rindex(b"avc1")
    path = tmp_path / "unknown.mp4"
    path.write_bytes(data[:at] + b"zzzz" + data[at + 4 :])

    error = refused(path)

    assert error.code == "unsupported_video_codec"
    assert error.detail == {"codec": None}


@pytest.mark.parametrize("name", ["song.m4a", "song.webm"])
def test_probe_refuses_audio_only_files(tmp_path: Path, name: str) -> None:
    path = render_audio_only(tmp_path / name)

    assert refused(path).code == "no_video_stream"


def test_probe_refuses_audio_with_cover_art(tmp_path: Path) -> None:
    # FFmpeg lists the cover as a video stream (one MJPEG frame); it is not a video.
    path = render_audio_only(tmp_path / "song.mp4", cover_art=True)
    with av.open(str(path)) as opened:
        assert [s.codec_context.name for s in opened.streams.video] == ["mjpeg"]

    assert refused(path).code == "no_video_stream"


@pytest.mark.parametrize(
    ("container", "faststart", "kept"),
    [("mp4", False, 0.5), ("mkv", False, 0.5), ("webm", False, 0.5), ("mp4", True, 0.75)],
)
def test_probe_refuses_a_truncated_video(
    tmp_path: Path, container: str, faststart: bool, kept: float
) -> None:
    codec = "vp9" if container == "webm" else "h264"
    whole = render_video(
        tmp_path / f"whole.{container}",
        scenes(RED, BLUE, GREEN, YELLOW),
        codec=codec,
        container=container,
        faststart=faststart,
    )
    data = whole.read_bytes()
    path = tmp_path / f"cut.{container}"
    path.write_bytes(data[: int(len(data) * kept)])
    if faststart:
        # FFmpeg alone takes this one: its index comes first and its first frame decodes.
        with av.open(str(path)) as cut:
            next(cut.decode(video=0))

    error = refused(path)

    assert error.code == "corrupt_video"
    assert "truncated" in error.message


def test_probe_refuses_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(random.Random(17).randbytes(20_000))

    assert refused(path).code == "corrupt_video"


def test_probe_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")

    assert refused(path).code == "corrupt_video"


@pytest.mark.parametrize("container", ["mp4", "webm"])
def test_probe_refuses_a_jpeg_with_a_video_appended(tmp_path: Path, container: str) -> None:
    video = two_scenes(tmp_path / f"clip.{container}", codec="vp9", container=container)
    path = tmp_path / "polyglot.jpg"
    path.write_bytes(image_bytes(fmt="JPEG") + video.read_bytes())

    assert refused(path).code == "corrupt_video"


def test_probe_refuses_an_mp4_behind_png_magic(tmp_path: Path) -> None:
    video = two_scenes(tmp_path / "clip.mp4")
    path = tmp_path / "polyglot.mp4"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + video.read_bytes())

    assert refused(path).code == "corrupt_video"


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_probe_refuses_a_video_with_an_archive_appended(tmp_path: Path, container: str) -> None:
    video = two_scenes(tmp_path / f"clip.{container}", container=container)
    path = tmp_path / f"polyglot.{container}"
    path.write_bytes(video.read_bytes() + b"PK\x03\x04" + bytes(200))

    assert refused(path).code == "corrupt_video"


def test_probe_refuses_a_video_whose_first_frame_does_not_decode(tmp_path: Path) -> None:
    video = two_scenes(tmp_path / "clip.mp4")
    data = bytearray(video.read_bytes())
    # Garble the media data, keeping every box (and so the index) intact.
    start = data.index(b"mdat") + 4
    data[start : start + 400] = random.Random(5).randbytes(400)
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    with av.open(str(path)) as opened:  # It opens and probes: only the decode fails.
        assert opened.streams.video[0].codec_context.width == 160

    error = refused(path)

    assert error.code == "corrupt_video"
    assert "damaged" in error.message


# Limits


def test_probe_refuses_a_file_over_the_size_limit(tmp_path: Path, settings: LazySettings) -> None:
    path = two_scenes(tmp_path / "clip.mp4")
    settings.VIDEO_MAX_BYTES = path.stat().st_size - 1

    error = refused(path)

    assert error.code == "video_too_large"
    assert error.detail == {"size": path.stat().st_size, "limit": settings.VIDEO_MAX_BYTES}


def test_probe_refuses_a_declared_size_over_the_limit(tmp_path: Path) -> None:
    path = two_scenes(tmp_path / "clip.mp4")

    error = refused(path, size=3 * 1024**3)

    assert error.code == "video_too_large"
    assert "3.0 GB" in error.message
    assert "2.0 GB" in error.message


def test_probe_refuses_a_video_over_the_duration_limit(
    tmp_path: Path, settings: LazySettings
) -> None:
    settings.VIDEO_MAX_SECONDS = 1
    path = two_scenes(tmp_path / "clip.webm", codec="vp8", container="webm")

    error = refused(path)

    assert error.code == "video_too_long"
    assert "0:00:01" in error.message


@pytest.mark.parametrize(("max_side", "size"), [(128, (160, 96)), (160, (160, 120))])
def test_probe_refuses_a_video_over_the_resolution_limit(
    tmp_path: Path, settings: LazySettings, max_side: int, size: tuple[int, int]
) -> None:
    # The long side over the limit, then the short side over its 16:9 share (90 for 160).
    settings.VIDEO_MAX_SIDE = max_side
    path = two_scenes(tmp_path / "clip.mp4", size=size)

    error = refused(path)

    assert error.code == "video_resolution_too_high"
    assert f"{size[0]}x{size[1]}" in error.message


def test_probe_accepts_a_video_at_the_resolution_limit(
    tmp_path: Path, settings: LazySettings
) -> None:
    settings.VIDEO_MAX_SIDE = 160
    path = two_scenes(tmp_path / "clip.mp4", size=(160, 90), rotation=90)

    assert (video_probe(path).width, video_probe(path).height) == (90, 160)


def test_probe_refuses_a_video_over_the_frame_rate_limit(
    tmp_path: Path, settings: LazySettings
) -> None:
    settings.VIDEO_MAX_FRAME_RATE = 24
    path = two_scenes(tmp_path / "clip.mp4", fps=30)

    error = refused(path)

    assert error.code == "video_frame_rate_too_high"
    assert "30 frames per second" in error.message
    assert "24" in error.message


def test_a_recording_that_declares_no_duration_is_measured_from_its_packets(
    tmp_path: Path,
) -> None:
    path = render_video(
        tmp_path / "recording.webm",
        scenes(RED, BLUE, GREEN, seconds=1.5),
        codec="vp9",
        container="webm",
        live=True,
    )
    with av.open(str(path)) as container:  # as MediaRecorder writes it: no duration
        assert container.duration is None
        assert container.streams.video[0].duration is None

    info = video_probe(path)

    assert info.duration == pytest.approx(4.5, abs=FRAME + 0.01)
    frames = list(video_frames(path, info, every=1.0, max_side=64))
    assert len(frames) == 5
    assert near(colour_at(frames[-1][1], 0.5, 0.5), GREEN)


def test_a_recording_too_long_to_accept_is_refused_by_its_packets(
    tmp_path: Path, settings: LazySettings
) -> None:
    settings.VIDEO_MAX_SECONDS = 2
    path = render_video(
        tmp_path / "recording.webm",
        scenes(RED, BLUE, GREEN),
        codec="vp9",
        container="webm",
        live=True,
    )

    assert refused(path).code == "video_too_long"
