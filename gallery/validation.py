"""Upload validation: decide what a file is from its bytes, and refuse what we cannot trust."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import struct
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.utils import timezone
from PIL import Image as PILImage
from PIL import TiffImagePlugin, UnidentifiedImageError

from core.errors import ApplicationError
from gallery.camera_raw import RAW_FORMATS, RawHeader, rawpy_module, read_raw_header
from gallery.containers import image_end, png_chunks
from gallery.decoding import decode_reduced, open_raw, oriented_size
from gallery.photometa import PhotoMetadata, read_photo_metadata

logger = logging.getLogger(__name__)

EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_DATETIME = 0x0132

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "HEIF": "heic",
    "AVIF": "avif",
    "TIFF": "tiff",
    "DNG": "dng",
    "CR2": "cr2",
    "NEF": "nef",
    "ARW": "arw",
}
# Formats Pillow tells apart that we accept as another.  Cameras and phones
# write JPEGs with a Multi-Picture extension (a stereo pair, a preview, an
# Ultra HDR gain map); its first frame is the photo, and every viewer shows
# the file as the JPEG it is.
FORMAT_ALIASES = {"MPO": "JPEG"}

# Active content that makes an image file a polyglot when it follows the
# image's own end (or hides in its text chunks): a browser or another parser
# could read the same bytes as a page, a script, an archive or a document.
ACTIVE_SIGNATURES = (b"<script", b"<html", b"<?php", b"<svg", b"<!doctype", b"%pdf-")
ARCHIVE_SIGNATURE = b"pk\x03\x04"
TEXT_INFO_KEYS = ("comment", "Comment", "Description", "XML:com.adobe.xmp", "parameters")

# What a refusal calls each kind of metadata, by its key in Pillow's `info`.
# A PNG's other text chunks are "text", anything else "other".  The ICC
# profile is not here: it has its own limit (`_refuse_oversized_metadata`).
METADATA_KINDS = {
    "exif": "EXIF",
    "Raw profile type exif": "EXIF",
    "xmp": "XMP",
    "XML:com.adobe.xmp": "XMP",
    "comment": "comments",
    "Comment": "comments",
    "Description": "comments",
}
ICC_PROFILE_KEY = "icc_profile"
# TIFF tags whose bytes are not metadata: XMP and the ICC profile are counted
# from `info`; JPEG tables and Photoshop's layers (ImageSourceData) are pixel
# data in effect.
TIFF_UNCOUNTED_TAGS = frozenset({347, 700, 34675, 37724})

# Exceptions Pillow raises for damaged bytes in the ordinary way (the AVIF and
# WebP codecs say RuntimeError); any other one is still the file's fault at
# the decode boundary, but is logged with its traceback in case it is a bug.
ORDINARY_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, RuntimeError, struct.error)

# Pillow's ValueErrors for a PNG whose text or profile chunks pass its caps.
_PNG_TEXT_LIMITS = ("MAX_TEXT_CHUNK", "memory used in text chunks")


class InvalidImage(ApplicationError):
    """The uploaded bytes are not an image we accept. Always a 400."""

    status = 400


@dataclass(frozen=True)
class InspectedImage:
    """What we learned from an upload's bytes. `image` is decoded, oriented and RGB."""

    data: bytes
    sha256: str
    format: str
    width: int
    height: int
    mode: str
    taken_at: datetime | None
    image: PILImage.Image
    metadata: PhotoMetadata = field(default_factory=PhotoMetadata)

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, self.format.lower())


def read_upload(upload: File, *, max_bytes: int | None = None) -> bytes:
    """Read at most `max_bytes` + 1 bytes, so an oversized upload is refused cheaply."""
    limit = settings.UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    return data


def inspect_image(data: bytes) -> InspectedImage:
    """Identify, bound and decode `data`; raise `InvalidImage` with a specific code.

    The format comes from the content, never from a file name or content type.
    The pixel count is checked from the header before decoding, so a
    decompression bomb is refused without allocating its pixels.  The pixel
    data is decoded whole (a truncated or damaged file is refused, and a PNG's
    chunks must all be intact), though a JPEG only at the scale the thumbnail
    and the model need (`gallery.decoding`): `image` is that reduced picture,
    and `width`/`height` are the original's.  Whatever Pillow raises on the
    bytes is an `InvalidImage`, never a 500.  An animated or multi-page file
    is judged and indexed by its first frame, as it is shown.  A camera RAW
    file (DNG, CR2, NEF, ARW, told from its bytes before Pillow sees it) is
    accepted only with `UPLOAD_RAW_ENABLED` (`_inspect_raw`).
    """
    if not data:
        raise InvalidImage("empty_file", "The file is empty.")
    raw = read_raw_header(data)
    if raw is not None:
        return _inspect_raw(data, raw)
    with _decoding():
        probe = PILImage.open(io.BytesIO(data))

    image_format = _accepted_format(probe.format)
    width, height = probe.size
    _refuse_bad_size(width, height, pixels=width * height)
    _refuse_oversized_metadata(probe)
    _refuse_polyglot(data, probe)
    if image_format == "PNG":
        _refuse_broken_png(data)

    with _decoding():
        width, height = oriented_size(probe)
        mode = probe.mode
        rgb = decode_reduced(  # GIF, WebP, TIFF, MPO: the first frame only.
            probe, short_side=settings.DECODE_SHORT_SIDE, long_side=settings.THUMBNAIL_SIZE
        )
    # Only after the decode: a PNG's getexif() decodes its pixels, and
    # `_taken_at` forgives any error, so read first it would forgive a broken
    # image too (which Pillow then "loads" from its half-filled buffer).
    taken_at = _taken_at(probe)
    metadata = read_photo_metadata(probe)

    return InspectedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=image_format,
        width=width,
        height=height,
        mode=mode,
        taken_at=taken_at,
        image=rgb,
        metadata=metadata,
    )


def _inspect_raw(data: bytes, header: RawHeader) -> InspectedImage:
    """`inspect_image` for a camera RAW file: the same limits, then LibRaw develops it.

    Refused as `unsupported_format` while `UPLOAD_RAW_ENABLED` is off or rawpy
    is missing.  The structure, the metadata and the polyglot check come from
    the bytes (`gallery.camera_raw`), the sizes from LibRaw's reading of the
    header, all before a pixel is decoded; whatever rawpy raises on the bytes
    is a `corrupt_image` (`_decoding`).
    """
    if not settings.UPLOAD_RAW_ENABLED:
        raise InvalidImage(
            "unsupported_format",
            f"This is a camera RAW file ({header.format}), and RAW support is off: "
            "set UPLOAD_RAW_ENABLED=1 (with rawpy installed: pip install '.[raw]') to accept "
            f"{', '.join(RAW_FORMATS)} files.",
            detail={"format": header.format, "setting": "UPLOAD_RAW_ENABLED"},
        )
    if rawpy_module() is None:
        raise InvalidImage(
            "unsupported_format",
            f"This is a camera RAW file ({header.format}); UPLOAD_RAW_ENABLED is on, but rawpy, "
            "which decodes them, is not installed (pip install '.[raw]').",
            detail={"format": header.format, "setting": "UPLOAD_RAW_ENABLED"},
        )
    if header.truncated():
        raise InvalidImage(
            "corrupt_image", "The image is truncated: its pixel data runs past the end of the file."
        )
    _refuse_metadata(header.metadata_sizes(), icc_size=header.icc_size())
    _refuse_active_content(data, b"", archive=False)
    with _decoding(), open_raw(data) as raw:
        width, height = raw.size
        _refuse_bad_size(width, height, pixels=raw.pixels)
        rgb = raw.decode(short_side=settings.DECODE_SHORT_SIDE, long_side=settings.THUMBNAIL_SIZE)
    return InspectedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=header.format,
        width=width,
        height=height,
        mode="RAW",
        taken_at=_parse_exif_datetime(header.taken_at_text()),
        image=rgb,
    )


def _refuse_bad_size(width: int, height: int, *, pixels: int) -> None:
    """The header's size: some pixels, not too many (a decompression bomb), a photo's shape."""
    if width < 1 or height < 1:
        raise InvalidImage("corrupt_image", "The image has no pixels.")
    if pixels > settings.UPLOAD_MAX_PIXELS:
        raise _too_many_pixels()
    if max(width, height) > settings.UPLOAD_MAX_SIDE or (
        max(width, height) > settings.UPLOAD_MAX_ASPECT * min(width, height)
    ):
        raise InvalidImage(
            "bad_dimensions",
            f"An image of {width}x{height} pixels is not a photo we can index "
            f"(at most {settings.UPLOAD_MAX_SIDE} px a side, {settings.UPLOAD_MAX_ASPECT}:1).",
        )


@contextmanager
def _decoding() -> Iterator[None]:
    """The decode boundary: whatever Pillow raises on the user's bytes is an `InvalidImage`.

    Pillow's plugins raise far more than `OSError`: `NotImplementedError` (a
    DDS pixel format, a TIFF feature), `TypeError`, `IndexError`, `KeyError`,
    `struct.error`, `EOFError`.  Each is about the file, so none may be a 500.
    rawpy raises its `LibRawError`s (an I/O error for a file cut short, an
    unsupported file, a data error): `corrupt_image` too, as is LibRaw's
    refusal of a file too big to allocate, since the pixel limit has already
    let it through.  Only code that reads the bytes runs inside; our own
    errors pass through.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            yield
    except ApplicationError:
        raise
    except UnidentifiedImageError:
        raise InvalidImage("not_an_image", "The file is not an image we can read.") from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except NotImplementedError as exc:
        raise InvalidImage(
            "unsupported_format", f"The image uses a feature we cannot decode: {_said(exc)}"
        ) from None
    except MemoryError:
        raise InvalidImage(
            "image_too_large", "The image needs more memory to decode than we allow."
        ) from None
    except Exception as exc:
        if isinstance(exc, ValueError) and any(s in str(exc) for s in _PNG_TEXT_LIMITS):
            # Pillow's own cap on a PNG's decompressed text and profile chunks.
            raise InvalidImage(
                "metadata_too_large", f"The image carries too much metadata: {_said(exc)}"
            ) from None
        if not isinstance(exc, ORDINARY_DECODE_ERRORS) and not _is_libraw_error(exc):
            logger.info("Decoding an upload raised %s", type(exc).__name__, exc_info=True)
        raise InvalidImage(
            "corrupt_image", f"The image is damaged or truncated: {_said(exc)}"
        ) from None


def _is_libraw_error(exc: BaseException) -> bool:
    """Whether rawpy raised `exc` about the file's bytes (rawpy is optional: not imported here)."""
    rawpy = rawpy_module() if "rawpy" in type(exc).__module__ else None
    return rawpy is not None and isinstance(exc, rawpy.LibRawError)


def _said(exc: BaseException) -> str:
    """An exception's message, short enough to show (it may quote the file's bytes)."""
    said = exc.args[0] if len(exc.args) == 1 else None
    # rawpy's errors carry LibRaw's message as bytes.
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(exc)
    text = text or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "\u2026"


def _accepted_format(name: str | None) -> str:
    """The format we record for a file Pillow calls `name`, or `unsupported_format`."""
    allowed = [f.upper() for f in settings.UPLOAD_ALLOWED_FORMATS]
    image_format = FORMAT_ALIASES.get(name or "", name or "")
    if image_format not in allowed:
        raise InvalidImage(
            "unsupported_format",
            f"{name or 'This'} images are not accepted. Allowed: {', '.join(allowed)}.",
        )
    return image_format


def _taken_at(image: PILImage.Image) -> datetime | None:
    """EXIF DateTimeOriginal, if present and sane. EXIF is user input: never trust it."""
    try:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    except Exception:  # noqa: BLE001  (malformed EXIF is common; it only costs us the date)
        return None
    return _parse_exif_datetime(raw if isinstance(raw, str) else None)


def _parse_exif_datetime(raw: str | None) -> datetime | None:
    """An EXIF "YYYY:MM:DD HH:MM:SS", if it is one and sane."""
    if raw is None:
        return None
    try:
        parsed = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not 1826 <= parsed.year <= timezone.now().year + 1:
        return None
    # EXIF times carry no zone; UTC is the least surprising reading.
    return parsed.replace(tzinfo=timezone.get_current_timezone())


def _refuse_oversized_metadata(image: PILImage.Image) -> None:
    """Refuse bulky metadata, naming which kind; the ICC profile has its own, larger limit.

    A colour profile is how the pixels are to be read, not a note about them:
    a camera's or a printer's profile with lookup tables runs to megabytes, and
    the decoder applies it.
    """
    icc = image.info.get(ICC_PROFILE_KEY)
    icc_size = len(icc) if isinstance(icc, bytes | str) else 0
    if icc_size > settings.UPLOAD_MAX_ICC_BYTES:
        _refuse_metadata(Counter(), icc_size=icc_size)
    with _decoding():  # A TIFF's tag values are parsed from the bytes when read.
        sizes = _metadata_sizes(image)
    _refuse_metadata(sizes, icc_size=icc_size)


def _refuse_metadata(sizes: Counter[str], *, icc_size: int) -> None:
    """Refuse a colour profile over `UPLOAD_MAX_ICC_BYTES`, other metadata over its own limit."""
    if icc_size > settings.UPLOAD_MAX_ICC_BYTES:
        raise InvalidImage(
            "metadata_too_large",
            f"The image's colour profile (ICC) is {_kb(icc_size)}; "
            f"the limit is {_kb(settings.UPLOAD_MAX_ICC_BYTES)}.",
            detail={"kinds": {"ICC profile": icc_size}, "limit": settings.UPLOAD_MAX_ICC_BYTES},
        )
    total = sum(sizes.values())
    if total > settings.UPLOAD_MAX_METADATA_BYTES:
        # Kinds of a few bytes (a TIFF's compression name, a GIF's version) are noise here.
        kinds = ", ".join(
            f"{kind} {_kb(size)}" for kind, size in sizes.most_common() if size >= 1024
        )
        raise InvalidImage(
            "metadata_too_large",
            f"The image carries {_kb(total)} of metadata ({kinds}); "
            f"the limit is {_kb(settings.UPLOAD_MAX_METADATA_BYTES)}.",
            detail={"kinds": dict(sizes), "limit": settings.UPLOAD_MAX_METADATA_BYTES},
        )


def _metadata_sizes(image: PILImage.Image) -> Counter[str]:
    """Bytes of metadata by kind (EXIF, XMP, comments, text, TIFF tags, other); no ICC."""
    sizes: Counter[str] = Counter()
    for key, value in image.info.items():
        if key == ICC_PROFILE_KEY or not isinstance(value, bytes | str):
            continue
        kind = METADATA_KINDS.get(key) if isinstance(key, str) else None
        sizes[kind or ("text" if isinstance(value, str) else "other")] += len(value)
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        # A TIFF keeps its descriptions, EXIF and vendor blobs as tags of the
        # image's own directory, not in `info`.
        for tag, value in image.tag_v2.items():
            if tag not in TIFF_UNCOUNTED_TAGS and isinstance(value, bytes | str):
                sizes["TIFF tags"] += len(value)
    return sizes


def _kb(size: int) -> str:
    return f"{math.ceil(size / 1024):,} KB"


def _refuse_polyglot(data: bytes, image: PILImage.Image) -> None:
    """Refuse files that are also something else: active content after the image or in its text."""
    end = image_end(data, image)
    texts = b" ".join(
        (v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")).lower()
        for key, v in image.info.items()
        if key in TEXT_INFO_KEYS
    )
    # A 4-byte archive signature is searched only after a known end, where
    # nothing else should be.
    _refuse_active_content(data[end:], texts, archive=bool(end))


def _refuse_active_content(tail: bytes, texts: bytes, *, archive: bool) -> None:
    """Refuse a polyglot: active content in `tail` (what follows the image's end) or `texts`."""
    tail = tail.lower()
    signatures = ACTIVE_SIGNATURES + ((ARCHIVE_SIGNATURE,) if archive else ())
    if any(signature in tail or signature in texts for signature in signatures):
        raise InvalidImage(
            "polyglot_file",
            "The file holds other content (a page, script, archive or document) besides the image.",
        )


def _refuse_broken_png(data: bytes) -> None:
    """Every chunk up to IEND must be whole and match its CRC.

    Pillow checks the CRCs of the chunks before the pixels only, and forgives
    a damaged IDAT or a file cut in or before its IEND as long as the pixels
    inflate; libpng and browsers do not, and such a file is damaged anyway.
    """
    view = memoryview(data)
    for kind, start, end in png_chunks(data):
        if zlib.crc32(view[start + 4 : end - 4]) != int.from_bytes(view[end - 4 : end], "big"):
            raise InvalidImage(
                "corrupt_image",
                f"The image is damaged: {_chunk_name(kind)} fails its checksum.",
            )
        if kind == b"IEND":
            return
    raise InvalidImage("corrupt_image", "The image is truncated: the PNG has no IEND chunk.")


def _chunk_name(kind: bytes) -> str:
    return f"its {kind.decode()} chunk" if kind.isascii() and kind.isalpha() else "a chunk"


def make_thumbnail(image: PILImage.Image, size: int) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=82)
    return out.getvalue()


def _too_large(limit: int) -> InvalidImage:
    return InvalidImage(
        "file_too_large", f"The file is larger than the limit of {limit // (1024 * 1024)} MB."
    )


def _too_many_pixels() -> InvalidImage:
    return InvalidImage(
        "image_too_large",
        f"The image has more than {settings.UPLOAD_MAX_PIXELS:,} pixels.",
    )
