"""Camera RAW files told from their bytes: a TIFF's directories walked for a DNG, CR2, NEF or ARW.

DNG, CR2, NEF and ARW are TIFF containers.  Pillow opens most of them as a
TIFF (their first directory is often a small preview, which would then be
indexed instead of the photo) or not at all (a linear DNG), so upload
validation asks here first, whatever the file is called.  The marks:

- DNG: the first directory carries DNGVersion (tag 50706), four bytes 1.x.
- CR2: Canon's "CR", 2 right after the TIFF header.
- NEF, ARW: Make is NIKON or SONY, and a directory (the first, the ones
  chained after it, or their SubIFDs) holds sensor data: a CFA or LinearRaw
  PhotometricInterpretation, or Nikon's or Sony's raw compression.  A TIFF a
  Nikon scanner or camera wrote as a plain picture is still a TIFF.

Pure bytes and a bounded walk (a few directories, each read once); nothing
is decoded here and nothing raises: a directory the bytes cannot hold ends
the walk.  `rawpy` (LibRaw), an optional dependency (`rawpy_module`),
decodes them in `gallery.decoding`.
"""

from __future__ import annotations

import importlib
import struct
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType

RAW_FORMATS = ("DNG", "CR2", "NEF", "ARW")
RAW_SUFFIXES = frozenset({".dng", ".cr2", ".nef", ".arw"})

_DNG_VERSION = 50706
_MAKE = 271
_SUBIFDS = 330
_EXIF_IFD = 34665
_PHOTOMETRIC = 262
_COMPRESSION = 259
_STRIPS = (273, 279)  # StripOffsets, StripByteCounts
_TILES = (324, 325)  # TileOffsets, TileByteCounts
_XMP = 700
_ICC = 34675
_DATETIME = 306
_DATETIME_ORIGINAL = 36867
# Sensor data: CFA (a Bayer mosaic) and LinearRaw (demosaiced, linear).
_RAW_PHOTOMETRIC = frozenset({32803, 34892})
# Nikon's NEF compression, Sony's ARW compression.
_RAW_COMPRESSION = frozenset({34713, 32767})
# Tags that are not metadata about the picture: pixel data or how to develop
# it (JPEG tables, Photoshop's layers, DNG's opcode lists for lens and
# shading corrections), and the camera's own blocks that nothing reads
# (EXIF's MakerNote, DNG's copy of it in DNGPrivateData: hundreds of KB from
# some cameras).  The whole file is still searched for a polyglot's payload.
_UNCOUNTED = frozenset({347, 37724, 51008, 51009, 51022, 37500, 50740})
_TEXT_TYPES = frozenset({1, 2, 7})  # BYTE, ASCII, UNDEFINED: what can carry text or a blob
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_DIRECTORIES = 16  # The first, its chain and SubIFDs: cameras write three to six.


@dataclass(frozen=True)
class _Entry:
    type: int
    count: int
    offset: int  # Where the value's bytes start (inside the entry when they fit).
    size: int

    def within(self, length: int) -> bool:
        return self.offset + self.size <= length


@dataclass
class RawHeader:
    """What the TIFF directories of a RAW file say, without decoding it."""

    format: str
    data: bytes = field(repr=False)
    little: bool
    first: dict[int, _Entry]
    directories: list[dict[int, _Entry]]
    exif: dict[int, _Entry]

    def truncated(self) -> bool:
        """Whether a strip or a tile of pixels that a directory names lies past the end.

        Checked before LibRaw sees the file, so that a file cut short is
        refused whatever LibRaw's decoder for its camera forgives; a preview
        cut short is a damaged file too.
        """
        length = len(self.data)
        for directory in self.directories:
            for offsets_tag, counts_tag in (_STRIPS, _TILES):
                if any(
                    tag in directory and not directory[tag].within(length)
                    for tag in (offsets_tag, counts_tag)
                ):
                    return True
                offsets = self._numbers(directory.get(offsets_tag))
                counts = self._numbers(directory.get(counts_tag))
                if any(o + c > length for o, c in zip(offsets, counts, strict=False)):
                    return True
        return False

    def metadata_sizes(self) -> Counter[str]:
        """Bytes of metadata by kind (XMP, EXIF, TIFF tags), as upload validation counts a TIFF's.

        Text and blobs (BYTE, ASCII, UNDEFINED values) of the first directory
        and the EXIF directory; numbers (offsets, colour matrices) are not
        metadata, and neither is the colour profile (`icc_size`).
        """
        sizes: Counter[str] = Counter()
        for kind, directory in (("TIFF tags", self.first), ("EXIF", self.exif)):
            for tag, entry in directory.items():
                if entry.type in _TEXT_TYPES and tag not in _UNCOUNTED and tag != _ICC:
                    sizes["XMP" if tag == _XMP else kind] += entry.size
        return sizes

    def icc_size(self) -> int:
        entry = self.first.get(_ICC)
        return entry.size if entry is not None else 0

    def taken_at_text(self) -> str | None:
        """EXIF DateTimeOriginal, else the first directory's DateTime, as written."""
        for directory, tag in ((self.exif, _DATETIME_ORIGINAL), (self.first, _DATETIME)):
            entry = directory.get(tag)
            if entry is not None and entry.type == 2 and entry.within(len(self.data)):
                value = self.data[entry.offset : entry.offset + entry.size]
                return value.decode("ascii", "replace")
        return None

    def _numbers(self, entry: _Entry | None) -> list[int]:
        if entry is None or entry.type not in (3, 4, 13) or not entry.within(len(self.data)):
            return []
        code = f"{'<' if self.little else '>'}{entry.count}{'H' if entry.type == 3 else 'L'}"
        return list(struct.unpack_from(code, self.data, entry.offset))


def raw_format(data: bytes) -> str | None:
    """ "DNG", "CR2", "NEF" or "ARW" if `data` is that camera RAW file, else None."""
    header = read_raw_header(data)
    return header.format if header is not None else None


def read_raw_header(data: bytes) -> RawHeader | None:
    """The directories of a camera RAW file (see the module's docstring); None if not one."""
    if data[:4] == b"II*\x00":
        little = True
    elif data[:4] == b"MM\x00*":
        little = False
    else:
        return None
    reader = _Reader(data, little)
    first_offset = reader.long(4)
    first, following = reader.directory(first_offset)
    if not first:
        return None
    directories, seen = [first], {first_offset}
    # The chain after the first directory (a CR2's raw is its fourth), then the SubIFDs.
    while following and following not in seen and len(directories) < _MAX_DIRECTORIES:
        seen.add(following)
        directory, following = reader.directory(following)
        if not directory:
            break
        directories.append(directory)
    for directory in list(directories):
        for offset in reader.numbers(directory.get(_SUBIFDS)):
            if offset in seen or len(directories) >= _MAX_DIRECTORIES:
                continue
            seen.add(offset)
            sub, _ = reader.directory(offset)
            if sub:
                directories.append(sub)
    exif_offsets = reader.numbers(first.get(_EXIF_IFD))
    exif = reader.directory(exif_offsets[0])[0] if exif_offsets else {}

    image_format = _format(data, reader, first, directories)
    if image_format is None:
        return None
    return RawHeader(image_format, data, little, first, directories, exif)


def _format(
    data: bytes, reader: _Reader, first: dict[int, _Entry], directories: list[dict[int, _Entry]]
) -> str | None:
    version = first.get(_DNG_VERSION)
    # BYTE[4], 1.x.0.0 in every DNG so far: a stray private tag of that number is not one.
    if (
        version is not None
        and (version.type, version.count) == (1, 4)
        and data[version.offset : version.offset + 1] == b"\x01"
    ):
        return "DNG"
    if data[8:10] == b"CR" and data[10] == 2:
        return "CR2"
    make = reader.text(first.get(_MAKE)).upper()
    if not make.startswith(("NIKON", "SONY")):
        return None
    sensor = any(
        bool(_RAW_PHOTOMETRIC & set(reader.numbers(d.get(_PHOTOMETRIC))))
        or bool(_RAW_COMPRESSION & set(reader.numbers(d.get(_COMPRESSION))))
        for d in directories
    )
    if not sensor:
        return None
    return "NEF" if make.startswith("NIKON") else "ARW"


class _Reader:
    """Bounds-checked reads of a TIFF's integers and directories."""

    def __init__(self, data: bytes, little: bool) -> None:
        self.data, self.order = data, "<" if little else ">"

    def long(self, at: int) -> int:
        if at + 4 > len(self.data):
            return 0
        value: int = struct.unpack_from(self.order + "L", self.data, at)[0]
        return value

    def directory(self, at: int) -> tuple[dict[int, _Entry], int]:
        """The entries of the directory at `at` by tag, and the next one's offset (0: none)."""
        if at < 8 or at + 2 > len(self.data):
            return {}, 0
        (count,) = struct.unpack_from(self.order + "H", self.data, at)
        end = at + 2 + 12 * count
        if count == 0 or end + 4 > len(self.data):
            return {}, 0
        entries: dict[int, _Entry] = {}
        for start in range(at + 2, end, 12):
            tag, kind, number = struct.unpack_from(self.order + "HHL", self.data, start)
            size = _TYPE_SIZES.get(kind, 1) * number
            offset = start + 8 if size <= 4 else self.long(start + 8)
            entries.setdefault(tag, _Entry(kind, number, offset, size))
        return entries, self.long(end)

    def numbers(self, entry: _Entry | None) -> list[int]:
        """A SHORT, LONG or IFD value's numbers; a few at most (offsets, a code)."""
        if entry is None or entry.type not in (3, 4, 13) or not entry.within(len(self.data)):
            return []
        count = min(entry.count, _MAX_DIRECTORIES)
        code = f"{self.order}{count}{'H' if entry.type == 3 else 'L'}"
        return list(struct.unpack_from(code, self.data, entry.offset))

    def text(self, entry: _Entry | None) -> str:
        if entry is None or entry.type != 2 or not entry.within(len(self.data)):
            return ""
        value = self.data[entry.offset : entry.offset + min(entry.size, 64)]
        return value.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


def rawpy_module() -> ModuleType | None:
    """`rawpy`, the optional RAW decoder (`pip install '.[raw]'`), or None if it will not import."""
    try:
        return importlib.import_module("rawpy")
    except ImportError:
        return None
