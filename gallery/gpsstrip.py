"""An image file's bytes without its GPS position, for serving a public original to others.

Edited in place, without re-encoding a pixel: the EXIF block's TIFF structure
loses its GPS IFD (the pointer to it is taken out of its directory, and the
IFD and its values are zeroed), and an XMP packet's GPS properties are blanked
with spaces.  Nothing moves, so every offset in the file stays right: a JPEG's
APP1 segment (every frame's, in a Multi-Picture JPEG), a PNG's eXIf chunk (its
CRC recomputed), a WebP's EXIF chunk, a HEIF or AVIF file's Exif item, a TIFF
or a camera RAW file's own directories.  What Pillow can still read is then
checked; a file whose GPS survives the edit (XMP in a compressed PNG text
chunk, an EXIF layout we do not walk) is re-encoded by Pillow in its own
format without the GPS, as a last resort.  Pure bytes and Pillow; nothing is
stored.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zlib

from PIL import Image as PILImage

from gallery.containers import png_chunks

logger = logging.getLogger(__name__)

GPS_IFD = 0x8825
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_TIFF_HEADER = re.compile(rb"II\*\x00|MM\x00\*")
# An APP1 segment with EXIF: outside a segment's payload, 0xFF 0xE1 is always
# a marker (entropy-coded data stuffs every 0xFF), so every frame's is found.
_JPEG_EXIF = re.compile(rb"\xff\xe1(..)Exif\x00\x00", re.DOTALL)
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_IFDS = 64  # A directory chain that loops, or a crafted one, stops here.

_XMP_PACKET = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta\s*>", re.DOTALL)
# exif:GPSLatitude="..." as an attribute, or as an element (with any prefix).
_XMP_GPS_ATTRIBUTE = re.compile(rb"""\s[\w.-]+:GPS\w*\s*=\s*(?:"[^"]*"|'[^']*')""")
_XMP_GPS_ELEMENT = re.compile(rb"<([\w.-]+:GPS\w*)\b[^>]*?(?:/>|>.*?</\1\s*>)", re.DOTALL)
_XMP_GPS = re.compile(rb"[\w.-]+:GPS\w*")

# Re-encoding options by format, for the last resort: as close to the
# original as Pillow gets (a JPEG keeps its quantisation tables).
_REENCODE: dict[str, dict[str, object]] = {
    "JPEG": {"quality": "keep"},
    "MPO": {"quality": "keep"},
    "WEBP": {"quality": 95},
    "HEIF": {"quality": 95},
    "AVIF": {"quality": 95},
}
_MULTI_FRAME = frozenset({"GIF", "PNG", "WEBP", "TIFF", "AVIF", "HEIF"})
# Formats Pillow writes as they were read; a RAW file is not one of them (as a
# TIFF, a DNG would come back as its preview).
_WRITABLE = frozenset({"JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF", "TIFF"})


class LocationNotRemovable(Exception):
    """The file carries a GPS position that could be neither edited out nor re-encoded away."""


def without_location(data: bytes, image_format: str) -> bytes:
    """`data` without its GPS position; `data` itself when it carries none.

    `image_format` is the format recorded at upload (JPEG, PNG, WEBP, GIF,
    HEIF, AVIF, TIFF, or a RAW format: DNG, CR2, NEF, ARW).  Lossless where
    the GPS can be edited out in place (see the module's docstring), else
    re-encoded by Pillow.  Never raises on odd bytes except
    `LocationNotRemovable`: the GPS is there, and neither way removes it (a
    RAW file that the edit cannot fix, which Pillow cannot write).
    """
    image_format = image_format.upper()
    try:
        stripped = _edited(data, image_format)
    except Exception:
        logger.info("Editing the GPS out of a %s failed", image_format, exc_info=True)
        stripped = data
    if not has_location(stripped, image_format):
        return stripped
    return _reencoded(data, image_format)


def has_location(data: bytes, image_format: str) -> bool:
    """Whether `data` still carries a GPS IFD or XMP GPS properties, by our walk or Pillow's."""
    image_format = image_format.upper()
    try:
        buffer = bytearray(data)  # A scratch copy: the walk edits as it looks.
        if any(_strip_tiff(buffer, *span) for span in _tiff_spans(data, image_format)):
            return True
        if any(_XMP_GPS.search(packet.group()) for packet in _XMP_PACKET.finditer(data)):
            return True
    except Exception:  # noqa: BLE001
        return True
    return _pillow_sees_location(data)


def _edited(data: bytes, image_format: str) -> bytes:
    buffer = bytearray(data)
    changed = False
    for start, end in _tiff_spans(data, image_format):
        changed |= _strip_tiff(buffer, start, end)
    for packet in _XMP_PACKET.finditer(data):
        changed |= _blank_xmp_gps(buffer, packet.start(), packet.end())
    if not changed:
        return data
    if image_format == "PNG":
        _fix_png_crcs(buffer, data)
    return bytes(buffer)


def _tiff_spans(data: bytes, image_format: str) -> list[tuple[int, int]]:
    """Where each EXIF TIFF structure the file holds begins and ends."""
    if image_format in ("JPEG", "MPO"):
        spans = []
        for match in _JPEG_EXIF.finditer(data):
            end = match.start() + 2 + int.from_bytes(match.group(1), "big")
            if data[match.end() : match.end() + 4] in _TIFF_HEADERS:
                spans.append((match.end(), min(end, len(data))))
        return spans
    if image_format == "PNG":
        spans = []
        for kind, start, end in png_chunks(data):
            if kind == b"eXIf":
                body = start + 8
                # Some writers put "Exif\0\0" before the TIFF header, as in a JPEG.
                skip = 6 if data[body : body + 6] == b"Exif\x00\x00" else 0
                spans.append((body + skip, end - 4))
        return spans
    if data[:4] in _TIFF_HEADERS:  # TIFF, DNG, CR2, NEF, ARW: the file is the structure.
        return [(0, len(data))]
    # WebP, HEIF, AVIF: the EXIF block is wherever the container keeps it, whole;
    # Pillow says what it holds, and it is found in the file by its bytes.
    blob = _pillow_exif(data)
    header = _TIFF_HEADER.search(blob) if blob else None
    if blob is None or header is None:
        return []
    tiff = blob[header.start() :]
    spans, position = [], data.find(tiff)
    while position >= 0:
        spans.append((position, position + len(tiff)))
        position = data.find(tiff, position + 1)
    return spans


class _Tiff:
    """Reads a TIFF structure inside a buffer, with offsets from its header, bounds-checked."""

    def __init__(self, buffer: bytearray, start: int, end: int) -> None:
        self.buffer, self.start, self.size = buffer, start, end - start
        self.order = "<" if buffer[start : start + 2] == b"II" else ">"

    def read(self, fmt: str, at: int) -> int:
        if at < 0 or at + struct.calcsize(fmt) > self.size:
            raise ValueError("An offset outside the TIFF structure.")
        return int(struct.unpack_from(self.order + fmt, self.buffer, self.start + at)[0])

    def write(self, at: int, value: bytes) -> None:
        self.buffer[self.start + at : self.start + at + len(value)] = value

    def zero(self, at: int, length: int) -> None:
        if at >= 0 and length > 0 and at + length <= self.size:
            self.write(at, bytes(length))


def _strip_tiff(buffer: bytearray, start: int, end: int) -> bool:
    """Take the GPS IFD out of the TIFF at buffer[start:end], in place; whether it had one.

    Each directory of the main chain loses its GPS entry (the later entries
    move up one, the count goes down, the next-directory offset follows them);
    the GPS IFD and its out-of-line values are zeroed, so the position is
    gone from the bytes, not only unlinked.  A directory that points outside
    the structure ends the walk: what was done so far stands, and the caller
    checks what Pillow still reads.
    """
    tiff = _Tiff(buffer, start, end)
    changed = False
    seen: set[int] = set()
    try:
        ifd = tiff.read("I", 4)
        while ifd and ifd not in seen and len(seen) < _MAX_IFDS:
            seen.add(ifd)
            count = tiff.read("H", ifd)
            tail_end = ifd + 2 + 12 * count + 4
            tiff.read("I", tail_end - 4)  # The next-directory offset must fit too.
            for index in range(count):
                entry = ifd + 2 + 12 * index
                if tiff.read("H", entry) != GPS_IFD:
                    continue
                _zero_ifd(tiff, tiff.read("I", entry + 8))
                moved = bytes(buffer[start + entry + 12 : start + tail_end])
                tiff.write(entry, moved + bytes(12))
                tiff.write(ifd, struct.pack(tiff.order + "H", count - 1))
                changed = True
                break
            count = tiff.read("H", ifd)
            ifd = tiff.read("I", ifd + 2 + 12 * count)
    except (ValueError, struct.error):
        pass
    return changed


def _zero_ifd(tiff: _Tiff, ifd: int) -> None:
    """Zero the directory at `ifd` and the values it points to, as far as they lie in bounds."""
    try:
        count = tiff.read("H", ifd)
    except ValueError:
        return
    for index in range(count):
        entry = ifd + 2 + 12 * index
        try:
            kind, number = tiff.read("H", entry + 2), tiff.read("I", entry + 4)
            length = _TYPE_SIZES.get(kind, 0) * number
            if length > 4:
                tiff.zero(tiff.read("I", entry + 8), length)
        except ValueError:
            break
    tiff.zero(ifd, min(tiff.size, ifd + 2 + 12 * count + 4) - ifd)


def _blank_xmp_gps(buffer: bytearray, start: int, end: int) -> bool:
    """Overwrite the GPS properties of the XMP packet at buffer[start:end] with spaces."""
    changed = False
    for pattern in (_XMP_GPS_ELEMENT, _XMP_GPS_ATTRIBUTE):
        for match in pattern.finditer(bytes(buffer[start:end])):
            buffer[start + match.start() : start + match.end()] = b" " * len(match.group())
            changed = True
    return changed


def _fix_png_crcs(buffer: bytearray, original: bytes) -> None:
    for _, start, end in png_chunks(original):
        if buffer[start:end] != original[start:end]:
            crc = zlib.crc32(buffer[start + 4 : end - 4])
            buffer[end - 4 : end] = crc.to_bytes(4, "big")


def _pillow_exif(data: bytes) -> bytes | None:
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            blob = image.info.get("exif")
    except Exception:  # noqa: BLE001
        return None
    return blob if isinstance(blob, bytes) else None


def _pillow_sees_location(data: bytes) -> bool:
    """Whether Pillow reads a GPS IFD or XMP GPS properties (a RAW file it cannot open: no)."""
    try:
        image = PILImage.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001  (RAW formats, mostly: our walk of their TIFF decided)
        return False
    with image:
        try:
            if image.getexif().get_ifd(GPS_IFD):
                return True
        except Exception:
            logger.debug("Pillow cannot read this file's EXIF", exc_info=True)
        texts = [v for k, v in image.info.items() if "xmp" in str(k).lower()]
        return any(_XMP_GPS.search(t if isinstance(t, bytes) else str(t).encode()) for t in texts)


def _reencoded(data: bytes, image_format: str) -> bytes:
    """The last resort: Pillow writes the image again, in its format, with EXIF but no GPS."""
    if image_format not in _WRITABLE and image_format != "MPO":
        raise LocationNotRemovable(
            f"This {image_format} file carries a GPS position that could not be edited out."
        )
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            exif.pop(GPS_IFD, None)
            fmt = image.format or image_format
            options: dict[str, object] = dict(_REENCODE.get(fmt, {}))
            if fmt == "TIFF":
                options["compression"] = image.info.get("compression", "raw")
            if getattr(image, "n_frames", 1) > 1 and fmt in _MULTI_FRAME:
                options["save_all"] = True
            if icc := image.info.get("icc_profile"):
                options["icc_profile"] = icc
            out = io.BytesIO()
            image.save(out, format="JPEG" if fmt == "MPO" else fmt, exif=exif.tobytes(), **options)
    except Exception as exc:
        raise LocationNotRemovable(
            f"This {image_format} file carries a GPS position that could not be removed."
        ) from exc
    result = out.getvalue()
    if has_location(result, image_format):
        raise LocationNotRemovable(
            f"This {image_format} file still carries a GPS position once re-encoded."
        )
    return result
