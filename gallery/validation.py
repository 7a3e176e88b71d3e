"""Upload validation: decide what a file is from its bytes, and refuse what we cannot trust."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.utils import timezone
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from core.errors import ApplicationError
from gallery.decoding import decode_reduced, oriented_size

EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_DATETIME = 0x0132

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "HEIF": "heic"}

# Active content that makes an image file a polyglot when it follows the
# image's own end (or hides in its text chunks): a browser or another parser
# could read the same bytes as a page, a script, an archive or a document.
ACTIVE_SIGNATURES = (b"<script", b"<html", b"<?php", b"<svg", b"<!doctype", b"%pdf-")
ARCHIVE_SIGNATURE = b"pk\x03\x04"
TEXT_INFO_KEYS = ("comment", "Comment", "Description", "XML:com.adobe.xmp", "parameters")


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
    decompression bomb is refused without allocating its pixels.  Every byte
    is decoded (a truncated or damaged file is refused), but a JPEG only at the
    scale the thumbnail and the model need (`gallery.decoding`): `image` is
    that reduced picture, and `width`/`height` are the original's.
    """
    if not data:
        raise InvalidImage("empty_file", "The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            probe = PILImage.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImage("not_an_image", "The file is not an image we can read.") from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage("corrupt_image", f"The image is damaged: {exc}") from None

    allowed = [f.upper() for f in settings.UPLOAD_ALLOWED_FORMATS]
    if probe.format not in allowed:
        raise InvalidImage(
            "unsupported_format",
            f"{probe.format or 'This'} images are not accepted. Allowed: {', '.join(allowed)}.",
        )
    width, height = probe.size
    if width < 1 or height < 1:
        raise InvalidImage("corrupt_image", "The image has no pixels.")
    if width * height > settings.UPLOAD_MAX_PIXELS:
        raise _too_many_pixels()
    if max(width, height) > settings.UPLOAD_MAX_SIDE or (
        max(width, height) > settings.UPLOAD_MAX_ASPECT * min(width, height)
    ):
        raise InvalidImage(
            "bad_dimensions",
            f"An image of {width}x{height} pixels is not a photo we can index "
            f"(at most {settings.UPLOAD_MAX_SIDE} px a side, {settings.UPLOAD_MAX_ASPECT}:1).",
        )
    _refuse_oversized_metadata(probe)
    _refuse_polyglot(data, probe)

    image_format = probe.format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            taken_at = _taken_at(probe)
            width, height = oriented_size(probe)
            mode = probe.mode
            rgb = decode_reduced(  # GIF: the first frame only.
                probe, short_side=settings.DECODE_SHORT_SIDE, long_side=settings.THUMBNAIL_SIZE
            )
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage("corrupt_image", f"The image is truncated or damaged: {exc}") from None

    return InspectedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=image_format,
        width=width,
        height=height,
        mode=mode,
        taken_at=taken_at,
        image=rgb,
    )


def _taken_at(image: PILImage.Image) -> datetime | None:
    """EXIF DateTimeOriginal, if present and sane. EXIF is user input: never trust it."""
    try:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    except Exception:  # noqa: BLE001  (malformed EXIF is common; it only costs us the date)
        return None
    if not isinstance(raw, str):
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
    size = sum(len(v) for v in image.info.values() if isinstance(v, bytes | str))
    if size > settings.UPLOAD_MAX_METADATA_BYTES:
        raise InvalidImage(
            "metadata_too_large",
            f"The image carries {size // 1024} KB of metadata (EXIF, XMP, comments); "
            f"the limit is {settings.UPLOAD_MAX_METADATA_BYTES // 1024} KB.",
        )


def _refuse_polyglot(data: bytes, image: PILImage.Image) -> None:
    """Refuse files that are also something else: active content after the image or in its text."""
    end = _image_end(data, image.format or "")
    tail = data[end:].lower()
    # A 4-byte archive signature is searched only after a known end, where
    # nothing else should be.
    signatures = ACTIVE_SIGNATURES + ((ARCHIVE_SIGNATURE,) if end else ())
    texts = b" ".join(
        (v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")).lower()
        for key, v in image.info.items()
        if key in TEXT_INFO_KEYS
    )
    if any(signature in tail or signature in texts for signature in signatures):
        raise InvalidImage(
            "polyglot_file",
            "The file holds other content (a page, script, archive or document) besides the image.",
        )


def _image_end(data: bytes, image_format: str) -> int:
    """Where the image's own bytes end, found by walking its structure.

    Unknown for GIF and HEIF: then the whole file is searched, which the
    signatures (5 bytes or more) make safe for binary data.
    """
    if image_format == "PNG":
        return _png_end(data)
    if image_format == "JPEG":
        return _jpeg_end(data)
    if image_format == "WEBP" and len(data) >= 8:
        return min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    return 0


def _png_end(data: bytes) -> int:
    position = 8  # after the signature: chunks of length, type, data, CRC
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        position += 12 + length
        if kind == b"IEND":
            return min(position, len(data))
    return 0


def _jpeg_end(data: bytes) -> int:
    position = 2  # after SOI: marker segments up to the first scan (SOS)
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:
            # Entropy-coded data stuffs every 0xFF, so the first FF D9 after
            # the scan header is the end of image.
            end = data.find(b"\xff\xd9", position)
            return end + 2 if end >= 0 else len(data)
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return 0


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
