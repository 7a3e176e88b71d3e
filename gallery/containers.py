"""Where an image file's own bytes end, walked from its structure: PNG chunks, JPEG
segments and scans, a Multi-Picture JPEG's frames, HEIF/AVIF boxes.

Upload validation (`gallery.validation`) searches only what follows for a
polyglot's payload, and checks a PNG's chunks. Pure bytes and Pillow metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from PIL import Image as PILImage

# JPEG markers: 0xFF then any byte but 0x00 (a stuffed 0xFF) and 0xFF (fill
# before a marker).  Inside a scan's entropy-coded data RST0-7 do not end it.
_JPEG_MARKER = re.compile(rb"\xff[\x01-\xfe]")
_JPEG_SCAN_END = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_JPEG_NO_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RST0-7
_JPEG_SOI, _JPEG_EOI, _JPEG_SOS = 0xD8, 0xD9, 0xDA
# The APP2 segment of a Multi-Picture JPEG: its offsets count from after "MPF\0".
_MPF_HEADER = re.compile(rb"\xff\xe2..MPF\x00", re.DOTALL)
_BOX_TYPE = re.compile(rb"[\x20-\x7e]{4}")


def image_end(data: bytes, image: PILImage.Image) -> int:
    """Where the image's own bytes end, found by walking its structure; 0 if unknown.

    Only what follows is a polyglot's payload: inside the image, a segment or
    box holds what its format says (a Photoshop block may quote a web page's
    doctype).  Unknown for GIF and TIFF: then the whole file is searched,
    which the signatures (5 bytes or more) make safe for binary data.
    """
    image_format = image.format or ""
    if image_format == "PNG":
        return png_end(data)
    if image_format == "JPEG":
        return jpeg_end(data)
    if image_format == "MPO":
        return mpo_end(data, image)
    if image_format == "WEBP" and len(data) >= 8:
        return min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    if image_format in ("HEIF", "AVIF"):
        return isobmff_end(data)
    return 0


def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each whole chunk (length, type, data, CRC) after the signature.

    Stops after IEND, or before the first chunk that the data cannot hold.
    """
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            return
        yield kind, position, end
        if kind == b"IEND":
            return
        position = end


def png_end(data: bytes) -> int:
    return next((end for kind, _, end in png_chunks(data) if kind == b"IEND"), 0)


def jpeg_end(data: bytes, start: int = 0) -> int:
    """Where the JPEG that starts at `start` ends (after its EOI); 0 if no scan is found.

    Walks the marker segments and resyncs as libjpeg and Pillow do: a segment
    whose length does not land on a marker (an APP14 with a malformed length,
    from some tools) is passed by finding the next 0xFF marker after its
    length field, rather than leaving the whole file unexplained.  A scan's
    entropy-coded data runs to the next marker that is not a restart, so the
    tables and scans of a progressive JPEG are walked too.  A file cut before
    its EOI, which libjpeg decodes, ends where the data does.
    """
    if data[start : start + 2] != b"\xff\xd8":
        return 0
    position, scanned = start + 2, False
    while (found := _JPEG_MARKER.search(data, position)) is not None:
        marker, position = data[found.start() + 1], found.end()
        if marker == _JPEG_EOI:
            if scanned:
                return position
            # No image ends before its first scan: these are bytes inside a
            # segment that a resync went through.
            continue
        if marker in _JPEG_NO_LENGTH:
            continue
        length = int.from_bytes(data[position : position + 2], "big")
        following = position + length
        fits = length >= 2 and following <= len(data)
        if marker == _JPEG_SOS:
            scanned = True
            found = _JPEG_SCAN_END.search(data, following if fits else position + 2)
            if found is None:
                break
            position = found.start()
        elif fits and (following == len(data) or data[following] == 0xFF):
            position = following
        else:
            position += 2  # A malformed length: resync on the next marker.
    return len(data) if scanned else 0


def mpo_end(data: bytes, image: PILImage.Image) -> int:
    """The end of a Multi-Picture JPEG's last frame, found from its MP index.

    Each frame is a JPEG of its own, at an offset counted from the index's
    header; a frame the index misplaces is left to the tail, and searched.
    """
    end = jpeg_end(data)
    header = _MPF_HEADER.search(data, 0, end or len(data))
    entries = getattr(image, "mpinfo", None) or {}
    frames = entries.get(0xB002) if isinstance(entries, dict) else None
    if header is None or not isinstance(frames, list):
        return end
    for frame in frames[1:]:
        offset = frame.get("DataOffset") if isinstance(frame, dict) else None
        if isinstance(offset, int) and offset > 0:
            end = max(end, jpeg_end(data, header.end() + offset))
    return end


def isobmff_end(data: bytes) -> int:
    """Where a HEIF or AVIF file's last whole top-level box ends (ftyp, meta, mdat ...)."""
    if data[4:8] != b"ftyp":
        return 0
    position = 0
    while position + 8 <= len(data):
        size, kind, header = (
            int.from_bytes(data[position : position + 4], "big"),
            data[position + 4 : position + 8],
            8,
        )
        if size == 0:
            return len(data)  # The last box runs to the end of the file.
        if size == 1 and position + 16 <= len(data):
            size, header = int.from_bytes(data[position + 8 : position + 16], "big"), 16
        if size < header or position + size > len(data) or not _BOX_TYPE.fullmatch(kind):
            break
        position += size
    return position
