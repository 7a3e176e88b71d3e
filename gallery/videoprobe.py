"""Video uploads: tell what a file is from its bytes, refuse what we cannot trust, and
read its frames upright, with PyAV (whose wheels carry FFmpeg's libraries).

`video_probe` judges an upload before anything is stored; `video_poster` and
`video_frames` read a probed file, on the web process (the poster) and on the
workers (the frames to index).  Every error about the file is an
`InvalidVideo` with a stable code, never a 500.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
from av.codec.context import ThreadType
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from django.conf import settings
from django.utils import timezone
from PIL import Image as PILImage

from core.errors import ApplicationError

logger = logging.getLogger(__name__)

# The codecs we accept, by FFmpeg's canonical name (the codec id, whichever
# decoder runs it: AV1 is decoded by libdav1d), and what a message calls them.
CODECS = {"h264": "H.264", "hevc": "H.265", "vp8": "VP8", "vp9": "VP9", "av1": "AV1"}
ACCEPTED_FORMATS = "MP4, MOV, WebM and MKV"

ISO_MAGIC = b"ftyp"  # At offset 4: an ISO BMFF file's first box.
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EBML_DOCTYPE = 0x4282
MATROSKA_SEGMENT = 0x18538067
QUICKTIME_BRAND = b"qt  "
# HEIF and AVIF are ISO BMFF too, and FFmpeg's mov demuxer opens some of them
# (an AVIF as one AV1 frame): they are images, uploaded as images.
IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # JPEG 2000: boxes, and an ftyp of its own.

# What the first bytes must hold: the ftyp box with its brands, the EBML
# header with its DocType.  Both are a few dozen bytes in practice.
HEAD_BYTES = 4096
# A polyglot hides a video after another format's bytes (a JPEG with an MP4
# appended, a few bytes of PNG magic before an MP4).  The first megabytes are
# searched for a video's header: a photo is rarely bigger, and a file we
# refuse anyway only gets a different code past that.
POLYGLOT_SCAN_BYTES = 8 * 1024 * 1024
# An ftyp box (a size under 16 MB, "ftyp", a printable major brand), and an
# EBML header that names a Matroska DocType within its first bytes.
_EMBEDDED_ISO = re.compile(rb"\x00...ftyp[\x20-\x7e]{4}", re.DOTALL)
_EMBEDDED_EBML = re.compile(
    rb"\x1a\x45\xdf\xa3.{1,64}?\x42\x82[\x84\x88](?:webm|matroska)", re.DOTALL
)
_BOX_TYPE = re.compile(rb"[\x20-\x7e]{4}")
# A fragmented MP4 has a moof and an mdat box per fragment; past this many
# top-level boxes the walk stops checking rather than reading on.
MAX_TOP_LEVEL_BOXES = 200_000

# FFmpeg reads the file in these bounds: the open (probing the streams), then
# each read, in seconds.  A local file needs far less; the bound is for a
# file that makes the demuxer spin.
OPEN_TIMEOUT = 20.0
READ_TIMEOUT = 20.0
# The probe decodes up to this many packets to get its first frame: a decoder
# with B-frames or a lookahead holds a few back before its first output.
PROBE_PACKETS = 48
# The default poster: a frame this far in (past a fade from black), or the
# middle of a shorter video.
POSTER_AT = 1.0
# `video_frames` stops this far past the probed duration: a file that says it
# is short but holds hours of frames gets no more work than it declared.
DURATION_SLACK = 2.0

# Clockwise degrees to show the stored frames upright, as PIL turns them
# (PIL's ROTATE_n turns counter-clockwise).
_UPRIGHT = {
    90: PILImage.Transpose.ROTATE_270,
    180: PILImage.Transpose.ROTATE_180,
    270: PILImage.Transpose.ROTATE_90,
}


class InvalidVideo(ApplicationError):
    """The uploaded bytes are not a video we accept. Always a 400."""

    status = 400


@dataclass(frozen=True)
class VideoInfo:
    """What the probe learned. `width` and `height` are upright, after `rotation`."""

    format: str  # "mp4" (MP4 and MOV: ISO BMFF), "webm", "mkv"
    codec: str  # "h264", "hevc", "vp8", "vp9", "av1"
    width: int
    height: int
    duration: float  # seconds
    frame_rate: float
    rotation: int  # clockwise degrees that show the stored frames upright: 0, 90, 180, 270
    taken_at: datetime | None  # the container's creation_time, in UTC
    extension: str  # "mp4", "mov", "webm", "mkv": what the file is stored as


@dataclass(frozen=True)
class _Container:
    format: str
    extension: str
    demuxer: str  # FFmpeg's demuxer, forced: it never guesses from the bytes


def video_probe(path: str | Path, *, size: int | None = None) -> VideoInfo:
    """Identify, bound and test-decode the video at `path`; raise `InvalidVideo` with a code.

    Reads the file only.  The size (`size`, or the file's) is checked first,
    then the container from the file's own first bytes: an ISO BMFF `ftyp`
    box (MP4, MOV) or an EBML header (WebM, MKV by its DocType); anything
    else is `unsupported_video_format`, or `corrupt_video` when a video's
    header hides further in (a polyglot).  The top-level structure must fit
    the file exactly (a truncated file or one with bytes appended is
    `corrupt_video`).  FFmpeg then opens it with that demuxer forced, so it
    never sniffs another format in the same bytes.  The first video stream
    (cover art does not count) must use an accepted codec and fit the
    duration, resolution and frame-rate limits, and its first frame must
    decode: only a few packets are read.  Whatever PyAV raises on the bytes
    is `corrupt_video`.
    """
    path = Path(path)
    size = path.stat().st_size if size is None else size
    if size > settings.VIDEO_MAX_BYTES:
        raise InvalidVideo(
            "video_too_large",
            f"The video is {_bytes_text(size)}; the limit is "
            f"{_bytes_text(settings.VIDEO_MAX_BYTES)}.",
            detail={"size": size, "limit": settings.VIDEO_MAX_BYTES},
        )
    if size == 0:
        raise InvalidVideo("corrupt_video", "The file is empty.")
    kind = _identify(path)
    _check_structure(path, kind, size=path.stat().st_size)

    with _reading(), _open(path, kind) as container:
        stream = _video_stream(container)
        codec = _accepted_codec(stream)
        _check_resolution(stream.codec_context.width, stream.codec_context.height)
        frame_rate = _frame_rate(stream)
        declared = _declared_duration(container, stream)
        frame = _first_frame(stream, container)
        rotation = _rotation(frame)
        width, height = frame.width, frame.height
        taken_at = _taken_at(container, stream)
    if declared is None:
        # A browser's recording (MediaRecorder writes WebM as it goes) says
        # nowhere how long it runs: its packets do.
        with _reading(), _open(path, kind) as container:
            declared = _measured_duration(container)
    duration = _checked_duration(declared)

    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        format=kind.format,
        codec=codec,
        width=width,
        height=height,
        duration=duration,
        frame_rate=frame_rate,
        rotation=rotation,
        taken_at=taken_at,
        extension=kind.extension,
    )


def video_poster(path: str | Path, info: VideoInfo, *, at: float | None = None) -> PILImage.Image:
    """The upright RGB frame shown at `at` seconds, at the video's full size.

    By default a frame `POSTER_AT` seconds in, or the middle of a shorter
    video.  Seeks to the keyframe before `at` and decodes forward from it; a
    time past the end gives the last frame.  Reads the file only; what PyAV
    raises on the bytes is `corrupt_video`.
    """
    if at is None:
        at = min(POSTER_AT, info.duration / 2)
    at = max(0.0, at)
    path = Path(path)
    with _reading(), _open(path, _container_of(info)) as container:
        stream = _video_stream(container)
        stream.codec_context.thread_type = ThreadType.AUTO
        start = _start_time(stream)
        if at > 0 and stream.time_base is not None:
            container.seek(int((start + at) / stream.time_base), stream=stream)
        tolerance = 0.5 / info.frame_rate
        chosen: VideoFrame | None = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            # The frame on screen at `at` is the last to start by then; if the
            # seek landed past `at` (no keyframe before it), the first is nearest.
            if chosen is None or frame.time - start <= at + tolerance:
                chosen = frame
            if frame.time - start >= at - tolerance:
                break
        if chosen is None:
            raise InvalidVideo("corrupt_video", "No frame of the video could be decoded.")
        picture = chosen.to_image()
    return _upright(picture, info.rotation)


def video_frames(
    path: str | Path, info: VideoInfo, *, every: float, max_side: int, start: float = 0.0
) -> Iterator[tuple[float, PILImage.Image]]:
    """(seconds from the start, upright RGB frame) about every `every` seconds, in order.

    Decodes the whole stream once, from the start (an inter-coded frame needs
    the ones before it), but converts only the frames it yields: the first
    at or after each multiple of `every`.  FFmpeg scales each to at most
    `max_side` pixels on its long side (never up), keeping its shape.  Stops
    `DURATION_SLACK` seconds past the probed duration.  From `start` (seconds),
    it seeks to the keyframe before it and yields nothing earlier (resuming an
    interrupted video).  Reads the file only;
    what PyAV raises on the bytes is `corrupt_video`, raised where the
    iteration reached.
    """
    if every <= 0:
        raise ValueError("every must be positive")
    path = Path(path)
    with _reading(), _open(path, _container_of(info)) as container:
        stream = _video_stream(container)
        stream.codec_context.thread_type = ThreadType.AUTO
        origin = _start_time(stream)
        tolerance = 0.5 / info.frame_rate
        due = max(0.0, start)
        if due > 0 and stream.time_base is not None:
            container.seek(int((due + origin) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            at = frame.time - origin
            if at > info.duration + DURATION_SLACK:
                return
            if at < due - tolerance:
                continue  # Decoded (the next frames need it), never converted.
            width, height = _scaled(frame.width, frame.height, max_side)
            picture = frame.to_image(width=width, height=height, interpolation="AREA")
            yield max(0.0, at), _upright(picture, info.rotation)
            due = (math.floor((at + tolerance) / every) + 1) * every


@contextmanager
def _reading() -> Iterator[None]:
    """The decode boundary: whatever PyAV raises on the user's bytes is `corrupt_video`.

    FFmpeg's errors arrive as `av.error.FFmpegError` subclasses (themselves
    `OSError`s and `ValueError`s), but PyAV's own code on odd files raises
    `ValueError`, `IndexError`, `ZeroDivisionError`, `EOFError`, `TypeError`,
    `OverflowError` and the like: each is about the file, so none may be a
    500.  Our own errors pass through.
    """
    try:
        yield
    except ApplicationError:
        raise
    except MemoryError:
        raise InvalidVideo(
            "corrupt_video", "The video needs more memory to decode than we allow."
        ) from None
    except Exception as exc:  # Broad on purpose: anything raised on these bytes is the file's.
        if not isinstance(exc, av.error.FFmpegError | OSError | ValueError | EOFError):
            logger.info("Reading a video raised %s", type(exc).__name__, exc_info=True)
        raise InvalidVideo(
            "corrupt_video", f"The video is damaged or truncated: {_said(exc)}"
        ) from None


@contextmanager
def _open(path: Path, kind: _Container) -> Iterator[InputContainer]:
    container = av.open(str(path), "r", format=kind.demuxer, timeout=(OPEN_TIMEOUT, READ_TIMEOUT))
    try:
        yield container
    finally:
        container.close()


def _identify(path: Path) -> _Container:
    """The container, from the file's first bytes; refuse anything else.

    Not FFmpeg's guess: its probe scores every demuxer on the bytes, and a
    file that is two formats at once would be judged as whichever wins.
    """
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if head[4:8] == ISO_MAGIC:
        brand = head[8:12]
        if brand in IMAGE_BRANDS:
            raise _unsupported_format(f"an {'AVIF' if brand.startswith(b'avi') else 'HEIF'} image")
        if brand == QUICKTIME_BRAND:
            return _Container("mp4", "mov", "mov")
        return _Container("mp4", "mp4", "mov")
    if head.startswith(EBML_MAGIC):
        doctype = _ebml_doctype(head)
        if doctype == "webm":
            return _Container("webm", "webm", "matroska")
        if doctype == "matroska":
            return _Container("mkv", "mkv", "matroska")
        if doctype is None:
            raise InvalidVideo("corrupt_video", "The file's EBML header is damaged.")
        raise _unsupported_format(f"an EBML document of type {doctype[:20]!r}")
    if not head.startswith(JP2_SIGNATURE):
        with path.open("rb") as handle:
            scanned = handle.read(POLYGLOT_SCAN_BYTES)
        if _EMBEDDED_ISO.search(scanned) or _EMBEDDED_EBML.search(scanned):
            raise InvalidVideo(
                "corrupt_video",
                "The file holds a video after other content: it is not a video file we accept.",
            )
    other = _other_format(head)
    if other is not None:
        raise _unsupported_format(other)
    raise InvalidVideo("corrupt_video", "The file is not a video we can read.")


def _other_format(head: bytes) -> str | None:
    """What a file we refuse is, from its signature, for the message; None if unknown."""
    if head.startswith(b"RIFF"):
        riff = {b"AVI ": "an AVI video", b"WEBP": "a WebP image", b"WAVE": "a WAV file"}
        return riff.get(head[8:12], "a RIFF file")
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "an MPEG-TS video"
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:
        return "an M2TS video"
    signatures = (
        (b"FLV\x01", "an FLV video"),
        (b"\x00\x00\x01\xba", "an MPEG program stream"),
        (b"\x00\x00\x01\xb3", "an MPEG video stream"),
        (b"OggS", "an Ogg file"),
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "an ASF (WMV) video"),
        (JP2_SIGNATURE, "a JPEG 2000 image"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (b"ID3", "an MP3 file"),
        (b"fLaC", "a FLAC file"),
    )
    return next((name for magic, name in signatures if head.startswith(magic)), None)


def _unsupported_format(what: str) -> InvalidVideo:
    return InvalidVideo(
        "unsupported_video_format",
        f"The file is {what}; we accept {ACCEPTED_FORMATS} videos.",
    )


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType ("webm", "matroska") from the EBML header at the start of `head`."""
    try:
        length, at = _vint(head, len(EBML_MAGIC))
        end = min(len(head), at + length)
        while at < end:
            element, at = _element_id(head, at)
            length, at = _vint(head, at)
            if element == EBML_DOCTYPE:
                return head[at : at + length].rstrip(b"\x00").decode("ascii")
            at += length
    except (IndexError, ValueError):  # A header cut short, or not ASCII.
        return None
    return None


def _vint(data: bytes, at: int) -> tuple[int, int]:
    """An EBML variable-length size at `at`, and where its data starts.

    The count of leading zero bits in the first byte says how many bytes
    follow; an all-ones value means "unknown" (a live stream's segment),
    returned as a value larger than any file.
    """
    first = data[at]
    width = 9 - first.bit_length()
    if width > 8:
        raise ValueError("not an EBML size")
    value = first & (0xFF >> width)
    for byte in data[at + 1 : at + width]:
        value = value << 8 | byte
    if at + width > len(data):
        raise IndexError("EBML size cut short")
    if value == (1 << (7 * width)) - 1:
        value = 1 << 62
    return value, at + width


def _element_id(data: bytes, at: int) -> tuple[int, int]:
    """An EBML element id at `at` (with its length marker, as the spec writes ids)."""
    width = 9 - data[at].bit_length()
    if width > 4:
        raise ValueError("not an EBML id")
    if at + width > len(data):
        raise IndexError("EBML id cut short")
    return int.from_bytes(data[at : at + width], "big"), at + width


def _check_structure(path: Path, kind: _Container, *, size: int) -> None:
    """The top-level boxes or the segment must end where the file does.

    FFmpeg opens a truncated MP4 whose index comes first and decodes its
    first frames, and it ignores bytes after the last box: a file cut short
    or carrying something appended (a polyglot's payload) is refused here.
    """
    if kind.demuxer == "mov":
        _check_iso_boxes(path, size)
    else:
        _check_matroska_segment(path, size)


def _check_iso_boxes(path: Path, size: int) -> None:
    with path.open("rb") as handle:
        at = 0
        for _ in range(MAX_TOP_LEVEL_BOXES):
            if at == size:
                return
            handle.seek(at)
            header = handle.read(16)
            box_size = int.from_bytes(header[:4], "big") if len(header) >= 8 else -1
            if box_size == 1 and len(header) == 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                return  # The last box runs to the end of the file.
            if box_size < 8 or not _BOX_TYPE.fullmatch(header[4:8]):
                raise InvalidVideo(
                    "corrupt_video",
                    f"The video is damaged or has something appended: the {size - at:,} bytes "
                    f"from offset {at:,} are not a part of it.",
                )
            if at + box_size > size:
                raise _truncated()
            at += box_size


def _check_matroska_segment(path: Path, size: int) -> None:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    try:
        length, at = _vint(head, len(EBML_MAGIC))
        at += length
        element, at = _element_id(head, at)
        length, at = _vint(head, at)
    except (IndexError, ValueError):
        raise InvalidVideo("corrupt_video", "The video's Matroska header is damaged.") from None
    if element != MATROSKA_SEGMENT:
        raise InvalidVideo("corrupt_video", "The video has no Matroska segment.")
    if length == 1 << 62:
        return  # A live recording's segment of unknown size: it runs to the end.
    if at + length > size:
        raise _truncated()
    if at + length < size:
        raise InvalidVideo(
            "corrupt_video",
            f"The video has something appended: {size - at - length:,} bytes follow its end.",
        )


def _truncated() -> InvalidVideo:
    return InvalidVideo("corrupt_video", "The video is truncated: it ends before its last part.")


def _container_of(info: VideoInfo) -> _Container:
    return _Container(info.format, info.extension, "mov" if info.format == "mp4" else "matroska")


def _video_stream(container: InputContainer) -> VideoStream:
    """The first video stream that is not a still (cover art in an audio file is one)."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    raise InvalidVideo("no_video_stream", "The file has no video stream (is it audio only?).")


def _accepted_codec(stream: VideoStream) -> str:
    context = stream.codec_context
    codec = context.codec if context is not None else None
    name = codec.canonical_name if codec is not None else ""
    if name not in CODECS:
        described = codec.long_name or name if codec is not None else "an unknown codec"
        accepted = ", ".join(list(CODECS.values())[:-1]) + f" or {list(CODECS.values())[-1]}"
        raise InvalidVideo(
            "unsupported_video_codec",
            f"The video is encoded as {described}; we accept {accepted}.",
            detail={"codec": name or None},
        )
    return name


def _check_resolution(width: int, height: int) -> None:
    """Rotation does not matter: the long and the short side are the same either way."""
    if width <= 0 or height <= 0:
        raise InvalidVideo("corrupt_video", "The video's frame size is missing.")
    long_limit = settings.VIDEO_MAX_SIDE
    # The short side of a 16:9 frame at the long side's limit (4320 for 7680).
    short_limit = long_limit * 9 // 16
    if max(width, height) > long_limit or min(width, height) > short_limit:
        raise InvalidVideo(
            "video_resolution_too_high",
            f"The video is {width}x{height} pixels; the limit is {long_limit}x{short_limit}.",
            detail={"width": width, "height": height, "limit": [long_limit, short_limit]},
        )


def _frame_rate(stream: VideoStream) -> float:
    """The average frame rate; guessed only when the container does not say.

    Not `guessed_rate` first: for a variable-rate file (a phone's), FFmpeg's
    guess is the rate that can represent every timestamp, which may be 1000.
    """
    rate = stream.average_rate or stream.guessed_rate
    if not rate or rate <= 0:
        raise InvalidVideo("corrupt_video", "The video's frame rate is missing.")
    if rate > settings.VIDEO_MAX_FRAME_RATE:
        raise InvalidVideo(
            "video_frame_rate_too_high",
            f"The video has {float(rate):g} frames per second; "
            f"the limit is {settings.VIDEO_MAX_FRAME_RATE}.",
            detail={"frame_rate": float(rate), "limit": settings.VIDEO_MAX_FRAME_RATE},
        )
    return float(rate)


def _declared_duration(container: InputContainer, stream: VideoStream) -> float | None:
    """The stream's duration, else the container's (Matroska keeps only the latter)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return None


def _measured_duration(container: InputContainer) -> float:
    """Where the video stream's last packet ends, read packet by packet (nothing decoded),
    stopping once past `VIDEO_MAX_SECONDS`."""
    stream = _video_stream(container)
    end = 0.0
    base = stream.time_base
    for packet in container.demux(stream):
        if packet.pts is None or base is None:
            continue
        end = max(end, float((packet.pts + (packet.duration or 0)) * base))
        if end > settings.VIDEO_MAX_SECONDS:
            break
    return end


def _checked_duration(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidVideo("corrupt_video", "The video's duration is missing.")
    if seconds > settings.VIDEO_MAX_SECONDS:
        raise InvalidVideo(
            "video_too_long",
            f"The video runs {_clock(seconds)}; the limit is {_clock(settings.VIDEO_MAX_SECONDS)}.",
            detail={"duration": seconds, "limit": settings.VIDEO_MAX_SECONDS},
        )
    return seconds


def _first_frame(stream: VideoStream, container: InputContainer) -> VideoFrame:
    """Decode until the first frame comes out, reading at most `PROBE_PACKETS` packets."""
    for count, packet in enumerate(container.demux(stream)):
        frames = stream.decode(packet)
        if frames:
            return frames[0]
        if count >= PROBE_PACKETS:
            break
    frames = stream.decode(None)  # Whatever the decoder still holds back.
    if not frames:
        raise InvalidVideo("corrupt_video", "The video's first frame does not decode.")
    return frames[0]


def _rotation(frame: VideoFrame) -> int:
    """Clockwise degrees that show the frame upright, from its display matrix.

    FFmpeg reads the matrix (an MP4's `tkhd`, Matroska's projection) into the
    stream's side data, and its decoders copy it onto every frame; PyAV's
    `frame.rotation` is the matrix's angle counter-clockwise, as
    `av_display_rotation_get` says, so a phone held upright (a `rotate` tag
    of 90 in older FFmpeg) reads -90.  Flips are not applied; an angle
    between quarter turns goes to the nearest.
    """
    clockwise = -frame.rotation % 360
    return round(clockwise / 90) % 4 * 90


def _start_time(stream: VideoStream) -> float:
    """Where the stream's timestamps start (an MPEG-TS clock, an edit list), in seconds."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _taken_at(container: InputContainer, stream: VideoStream) -> datetime | None:
    """The container's creation_time (or the video track's), in UTC, if sane."""
    raw = container.metadata.get("creation_time") or stream.metadata.get("creation_time")
    if not raw:
        return None
    # Python takes at most microseconds; some muxers write nanoseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", raw.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # MP4 times are UTC by the spec.
    parsed = parsed.astimezone(UTC)
    # 1904 and 1970 are the epochs of a camera that never set its clock.
    if not 1971 <= parsed.year <= timezone.now().year + 1:
        return None
    return parsed


def _upright(picture: PILImage.Image, rotation: int) -> PILImage.Image:
    transpose = _UPRIGHT.get(rotation)
    return picture if transpose is None else picture.transpose(transpose)


def _scaled(width: int, height: int, max_side: int) -> tuple[int, int]:
    """`width` x `height` shrunk to fit `max_side` on the long side, never grown."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _said(exc: BaseException) -> str:
    """An exception's message, short enough to show (FFmpeg's may quote the path)."""
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or type(exc).__name__
    else:
        text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "\u2026"


def _bytes_text(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GB"
    if size >= 1024**2:
        return f"{size / 1024**2:.1f} MB"
    return f"{size:,} bytes"


def _clock(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    whole = math.ceil(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"
