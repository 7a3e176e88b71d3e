from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL.TiffImagePlugin import IFDRational

from gallery.photometa import PhotoMetadata, read_photo_metadata
from tests.factories import image_bytes, picture

LISBON_GPS = {1: "N", 2: (38.0, 43.0, 20.28), 3: "W", 4: (9.0, 8.0, 21.48)}


def exif(**fields: Any) -> PILImage.Exif:
    """EXIF with IFD0 tags, the Exif IFD's lens and a GPS IFD, as a camera writes them."""
    data = PILImage.Exif()
    data[0x010F] = fields.get("make", "Canon")
    data[0x0110] = fields.get("model", "Canon EOS 5D")
    if "lens" in fields:
        data.get_ifd(0x8769)[0xA434] = fields["lens"]
    if "gps" in fields:
        data[0x8825] = fields["gps"]
    return data


def read(data: PILImage.Exif | None, fmt: str = "JPEG") -> PhotoMetadata:
    save = {} if data is None else {"exif": data}
    return read_photo_metadata(PILImage.open(io.BytesIO(image_bytes(picture(), fmt, **save))))


def test_reads_camera_lens_and_position_from_a_jpeg() -> None:
    meta = read(exif(lens="EF24-105mm f/4L IS USM", gps=LISBON_GPS))

    assert (meta.camera_make, meta.camera_model, meta.camera) == (
        "Canon",
        "Canon EOS 5D",
        "Canon EOS 5D",
    )
    assert meta.lens == "EF24-105mm f/4L IS USM"
    assert meta.latitude == pytest.approx(38.7223, abs=1e-4)
    assert meta.longitude == pytest.approx(-9.1393, abs=1e-4)


@pytest.mark.parametrize(
    ("refs", "signs"), [(("N", "E"), (1, 1)), (("S", "W"), (-1, -1)), (("S", "E"), (-1, 1))]
)
def test_position_follows_its_hemisphere_refs(
    refs: tuple[str, str], signs: tuple[int, int]
) -> None:
    gps = {1: refs[0], 2: (33.0, 52.0, 4.0), 3: refs[1], 4: (151.0, 12.0, 36.0)}

    meta = read(exif(gps=gps))

    assert meta.latitude == pytest.approx(signs[0] * 33.867778, abs=1e-5)
    assert meta.longitude == pytest.approx(signs[1] * 151.21, abs=1e-5)


def test_camera_joins_make_and_model_when_the_model_does_not_repeat_it() -> None:
    assert read(exif(make="NIKON CORPORATION", model="NIKON D750")).camera == "NIKON D750"
    assert read(exif(make="Apple", model="iPhone 15 Pro")).camera == "Apple iPhone 15 Pro"
    assert PhotoMetadata(camera_make="Leica").camera == "Leica"
    assert PhotoMetadata().camera == ""


def test_text_is_cleaned_and_capped() -> None:
    meta = read(exif(make="  Canon\x00\x00 ", model="X" * 5000, lens="\x00"))

    assert meta.camera_make == "Canon"
    assert meta.camera_model == "X" * 128
    assert meta.lens == ""


@pytest.mark.parametrize(
    "gps",
    [
        {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)},  # Null island: no fix.
        {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (9.0, 0.0, 0.0)},  # Beyond the pole.
        {1: "N", 2: (38.0, 0.0, 0.0), 3: "E", 4: (181.0, 0.0, 0.0)},
        {1: "X", 2: (38.0, 0.0, 0.0), 3: "E", 4: (9.0, 0.0, 0.0)},  # No hemisphere.
        {2: (38.0, 0.0, 0.0), 4: (9.0, 0.0, 0.0)},
        {1: "N", 2: (38.0, 0.0, 0.0)},  # Half a position.
        {1: "N", 2: (IFDRational(1, 0), 0.0, 0.0), 3: "E", 4: (9.0, 0.0, 0.0)},  # NaN.
        {1: "N", 2: (38.0, 0.0, 0.0, 1.0), 3: "E", 4: (9.0, 0.0, 0.0)},
        {1: "N", 2: (38.0, 75.0, 0.0), 3: "E", 4: (9.0, 0.0, 0.0)},
    ],
)
def test_malformed_gps_gives_no_position_but_keeps_the_camera(gps: dict[int, Any]) -> None:
    meta = read(exif(gps=gps))

    assert (meta.latitude, meta.longitude) == (None, None)
    assert meta.camera == "Canon EOS 5D"


def test_an_image_without_exif_has_empty_fields() -> None:
    assert read(None) == PhotoMetadata()
    assert read(None, "PNG") == PhotoMetadata()


def test_damaged_exif_never_raises() -> None:
    data = bytearray(image_bytes(picture(), "JPEG", exif=exif(gps=LISBON_GPS)))
    start = data.index(b"Exif\x00\x00") + 6
    data[start + 4 : start + 8] = b"\xff\xff\xff\x00"  # IFD0 far past the end.

    assert read_photo_metadata(PILImage.open(io.BytesIO(bytes(data)))) == PhotoMetadata()
