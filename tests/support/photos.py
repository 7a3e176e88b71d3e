"""Pictures as cameras and signs make them: EXIF with camera and GPS, and rendered words."""

from __future__ import annotations

import os

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from gallery.lexical import images_refresh_lexical
from gallery.models import Image

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
LISBON = (38.7223, -9.1393)
BERLIN = (52.5200, 13.4050)


def camera_exif(
    *,
    make: str = "Canon",
    model: str = "Canon EOS 5D",
    lens: str = "",
    position: tuple[float, float] | None = None,
    taken: str = "",
) -> PILImage.Exif:
    """EXIF as a camera writes it: IFD0's make and model, the Exif IFD, a GPS IFD of rationals."""
    exif = PILImage.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    if lens:
        exif.get_ifd(0x8769)[0xA434] = lens
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    if position is not None:
        lat, lon = position
        exif[0x8825] = {
            0: b"\x02\x02\x00\x00",
            1: "N" if lat >= 0 else "S",
            2: _dms(lat),
            3: "E" if lon >= 0 else "W",
            4: _dms(lon),
        }
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 2)
    return (float(degrees), float(minutes), seconds)


def words_picture(
    lines: list[str],
    *,
    size: tuple[int, int] = (900, 600),
    font_size: int = 64,
    ink: tuple[int, int, int] = (20, 20, 30),
    ground: tuple[int, int, int] = (250, 250, 245),
) -> PILImage.Image:
    """A sign: `lines` of bold words on a plain ground."""
    picture = PILImage.new("RGB", size, ground)
    draw = ImageDraw.Draw(picture)
    face = ImageFont.truetype(FONT, font_size)
    y = size[1] // 5
    for line in lines:
        draw.text((size[0] // 10, y), line, font=face, fill=ink)
        y += round(font_size * 1.6)
    return picture


def require_ocr() -> None:
    """Skip where Tesseract is missing, except in CI, where `.ci/run` installs it: fail there."""
    from gallery.ocr import ocr_available, ocr_unavailable_reason, reset_ocr

    reset_ocr()
    if ocr_available():
        return
    reason = f"text recognition is off here: {ocr_unavailable_reason()}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def as_before_text_search(image_id: str) -> None:
    """The row as a release before text search left it: no words, no camera, no place."""
    Image.objects.filter(pk=image_id).update(
        recognised_text="",
        text_words=[],
        text_engine="",
        text_indexed_at=None,
        camera_make="",
        camera_model="",
        lens="",
        latitude=None,
        longitude=None,
        place_city="",
        place_region="",
        place_country="",
        place_country_code="",
    )
    images_refresh_lexical([Image.objects.get(pk=image_id)])
