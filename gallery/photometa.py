"""What a photo's EXIF says about how and where it was taken: camera, lens, GPS position.

EXIF is user input: every reader here forgives anything (a missing tag, a
wrong type, a damaged IFD) by leaving the field empty, and never raises.
Pure Pillow; nothing is stored here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage

from gallery.places import place_at

# Not imported from gallery.validation, which reads its metadata through this module.
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
EXIF_MAKE = 0x010F
EXIF_MODEL = 0x0110
EXIF_LENS_MAKE = 0xA433
EXIF_LENS_MODEL = 0xA434
GPS_LATITUDE_REF = 0x0001
GPS_LATITUDE = 0x0002
GPS_LONGITUDE_REF = 0x0003
GPS_LONGITUDE = 0x0004

# Longer than any real camera or lens name; a crafted file's kilobytes stop here.
MAX_TEXT = 128


@dataclass(frozen=True)
class PhotoMetadata:
    camera_make: str = ""
    camera_model: str = ""
    lens: str = ""
    latitude: float | None = None
    longitude: float | None = None

    @property
    def camera(self) -> str:
        return camera_name(self.camera_make, self.camera_model)

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None


def camera_name(make: str, model: str) -> str:
    """Make and model as people say it: "Canon EOS 5D", not "Canon Canon EOS 5D"."""
    make, model = make.strip(), model.strip()
    if not model:
        return make
    # Many makers repeat themselves in the model ("Canon EOS 5D", "NIKON D750"
    # by "NIKON CORPORATION"): the make's first word already leads the model.
    first = make.split()[0].casefold() if make else ""
    if not make or model.casefold().startswith(first):
        return model
    return f"{make} {model}"


def image_fields(meta: PhotoMetadata) -> dict[str, Any]:
    """`meta` as `Image` fields, with the place its position is in (`gallery.places`)."""
    fields: dict[str, Any] = {
        "camera_make": meta.camera_make,
        "camera_model": meta.camera_model,
        "lens": meta.lens,
    }
    if meta.latitude is not None and meta.longitude is not None:
        place = place_at(meta.latitude, meta.longitude)
        fields.update(
            latitude=meta.latitude,
            longitude=meta.longitude,
            place_city=place.city if place else "",
            place_region=place.region if place else "",
            place_country=place.country if place else "",
            place_country_code=place.country_code if place else "",
        )
    return fields


def read_photo_metadata(image: PILImage.Image) -> PhotoMetadata:
    """Camera, lens and GPS position from `image`'s EXIF; empty fields for what is missing.

    Reads only the metadata (no pixels are decoded, except for a PNG whose
    EXIF follows its image data, which Pillow must load to reach).  Never
    raises: a damaged EXIF block costs its fields, not the caller.
    """
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001  (malformed EXIF is common; it only costs us the fields)
        return PhotoMetadata()
    sub = _ifd(exif, EXIF_IFD)
    gps = _ifd(exif, GPS_IFD)
    lens_make, lens_model = _text(sub.get(EXIF_LENS_MAKE)), _text(sub.get(EXIF_LENS_MODEL))
    latitude = _degrees(gps.get(GPS_LATITUDE), gps.get(GPS_LATITUDE_REF), "N", "S", limit=90)
    longitude = _degrees(gps.get(GPS_LONGITUDE), gps.get(GPS_LONGITUDE_REF), "E", "W", limit=180)
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        # Half a position is none, and (0, 0) is what a GPS without a fix writes.
        latitude = longitude = None
    return PhotoMetadata(
        camera_make=_text(exif.get(EXIF_MAKE)),
        camera_model=_text(exif.get(EXIF_MODEL)),
        lens=_lens(lens_make, lens_model),
        latitude=latitude,
        longitude=longitude,
    )


def _ifd(exif: PILImage.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # noqa: BLE001  (a sub-IFD pointing anywhere: no fields from it)
        return {}


def _text(value: object) -> str:
    """An EXIF ASCII value, cleaned: NULs and padding gone, printable, at most MAX_TEXT."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    cleaned = "".join(c if c.isprintable() else " " for c in value.replace("\x00", " "))
    return " ".join(cleaned.split())[:MAX_TEXT].strip()


def _lens(make: str, model: str) -> str:
    if make and model and not model.casefold().startswith(make.split()[0].casefold()):
        return f"{make} {model}"[:MAX_TEXT]
    return model or make


def _degrees(
    value: object, ref: object, positive: str, negative: str, *, limit: int
) -> float | None:
    """Decimal degrees from EXIF's (degrees, minutes, seconds) rationals and its N/S or E/W ref."""
    try:
        parts = [float(part) for part in value] if isinstance(value, tuple | list) else []
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3:
        return None
    degrees, minutes, seconds = (*parts, 0.0, 0.0)[:3]
    if not all(math.isfinite(p) and p >= 0 for p in (degrees, minutes, seconds)):
        return None
    if minutes > 60 or seconds > 60:  # 60: a writer's rounding, seen in the wild.
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    direction = _text(ref).upper()[:1]
    if direction == negative:
        decimal = -decimal
    elif direction != positive:
        return None
    if not math.isfinite(decimal) or abs(decimal) > limit:
        return None
    return round(decimal, 7)
