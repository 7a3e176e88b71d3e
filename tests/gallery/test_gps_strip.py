from __future__ import annotations

import io
from typing import Any

import pillow_heif
import pytest
from PIL import Image as PILImage

from gallery.gpsstrip import has_location, without_location
from tests.factories import image_bytes, picture

pillow_heif.register_heif_opener()

GPS = {0: b"\x02\x02\x00\x00", 1: "N", 2: (38.0, 43.0, 20.28), 3: "W", 4: (9.0, 8.0, 21.48)}
XMP_WITH_GPS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="38,43.338N"'
    b' exif:DateTimeOriginal="2024-05-01T10:00:00"><exif:GPSLongitude>9,8.358W</exif:GPSLongitude>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def camera_exif(*, gps: bool = True) -> PILImage.Exif:
    exif = PILImage.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:00:00"
    if gps:
        exif[0x8825] = GPS
    return exif


def photo(fmt: str = "JPEG", *, gps: bool = True, **save: Any) -> bytes:
    exif = camera_exif(gps=gps)
    return image_bytes(
        picture(size=(120, 80)), fmt, exif=exif.tobytes() if fmt == "TIFF" else exif, **save
    )


def opened(data: bytes) -> PILImage.Image:
    return PILImage.open(io.BytesIO(data))


def test_stripped_jpeg_has_no_gps_but_keeps_the_rest_and_its_pixels() -> None:
    original = photo("JPEG", quality=90)

    stripped = without_location(original, "JPEG")

    exif = opened(stripped).getexif()
    assert 0x8825 not in exif
    assert not exif.get_ifd(0x8825)
    assert (exif[0x010F], exif[0x0110]) == ("Canon", "Canon EOS 5D")
    assert exif.get_ifd(0x8769)[0x9003] == "2024:05:01 10:00:00"
    assert opened(stripped).tobytes() == opened(original).tobytes()
    assert len(stripped) == len(original)  # Edited in place: nothing re-encoded.
    # Gone from the bytes, not only unlinked: the rational 20.28" is not there.
    assert (2028).to_bytes(4, "big") + (100).to_bytes(4, "big") not in stripped
    assert not has_location(stripped, "JPEG")


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "HEIF", "AVIF"])
def test_other_formats_lose_their_gps_in_place(fmt: str) -> None:
    original = photo(fmt)
    assert opened(original).getexif().get_ifd(0x8825)

    stripped = without_location(original, fmt)

    image = opened(stripped)
    assert not image.getexif().get_ifd(0x8825)
    assert image.getexif()[0x0110] == "Canon EOS 5D"
    assert len(stripped) == len(original)
    image.load()  # A PNG's CRCs were made right again: it still decodes whole.
    assert image.convert("RGB").tobytes() == opened(original).convert("RGB").tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "GIF"])
def test_a_file_without_gps_comes_back_byte_identical(fmt: str) -> None:
    original = photo(fmt, gps=False) if fmt != "GIF" else image_bytes(picture(), "GIF")

    assert without_location(original, fmt) is original


def test_xmp_gps_properties_are_blanked() -> None:
    original = photo("JPEG", gps=False, xmp=XMP_WITH_GPS)
    assert has_location(original, "JPEG")

    stripped = without_location(original, "JPEG")

    xmp = opened(stripped).info["xmp"]
    assert b"GPS" not in xmp
    assert b"43.338" not in xmp
    assert b'exif:DateTimeOriginal="2024-05-01T10:00:00"' in xmp
    assert len(stripped) == len(original)


def test_gps_the_edit_cannot_reach_is_re_encoded_away() -> None:
    # XMP in a compressed PNG text chunk: not in the file's bytes as text.
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP_WITH_GPS.decode(), zip=True)
    original = image_bytes(picture(), "PNG", pnginfo=info)
    assert has_location(original, "PNG")

    stripped = without_location(original, "PNG")

    assert not has_location(stripped, "PNG")
    assert opened(stripped).tobytes() == opened(original).tobytes()  # PNG: lossless anyway.


@pytest.mark.parametrize("damage", [b"\xff\xff\xff\x00", b"\x00\x00\x00\x00"])
def test_damaged_exif_never_raises(damage: bytes) -> None:
    data = bytearray(photo("JPEG"))
    start = data.index(b"Exif\x00\x00") + 6
    data[start + 4 : start + 8] = damage  # IFD0 far past the end, or none.

    stripped = without_location(bytes(data), "JPEG")

    assert not opened(stripped).getexif().get_ifd(0x8825)


def test_not_an_image_comes_back_unchanged() -> None:
    assert without_location(b"not an image", "JPEG") == b"not an image"


# Through the API: who gets the position.


def original_of(client: Any, image_id: str) -> tuple[Any, bytes]:
    response = client.get(f"/api/images/{image_id}/file/")
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


@pytest.fixture
def public_photo(alice_api: Any, upload: Any) -> tuple[str, bytes]:
    data = photo("JPEG")
    response = upload(alice_api, data, "lisbon.jpg", visibility="public")
    assert response.status_code == 201, response.content
    return response.json()["id"], data


def test_others_get_a_public_original_without_its_gps(
    public_photo: tuple[str, bytes], alice_api: Any, bob_api: Any
) -> None:
    image_id, data = public_photo

    owners, owners_bytes = original_of(alice_api, image_id)
    others, others_bytes = original_of(bob_api, image_id)

    assert owners_bytes == data
    assert opened(owners_bytes).getexif().get_ifd(0x8825)
    assert not opened(others_bytes).getexif().get_ifd(0x8825)
    assert opened(others_bytes).getexif()[0x0110] == "Canon EOS 5D"
    assert int(others["Content-Length"]) == len(others_bytes)
    for header in ("Content-Type", "Cache-Control", "Content-Disposition"):
        assert others[header] == owners[header], header
    assert others["Content-Type"] == "image/jpeg"


def test_with_stripping_off_others_get_the_original(
    public_photo: tuple[str, bytes], bob_api: Any, settings: Any
) -> None:
    settings.STRIP_PUBLIC_GPS = False
    image_id, data = public_photo

    _, body = original_of(bob_api, image_id)

    assert body == data
