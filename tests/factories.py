"""Typed builders for users, image bytes and authenticated API clients."""

from __future__ import annotations

import io
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from PIL import Image as PILImage
from PIL import ImageCms, ImageDraw
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

PASSWORD = "correct horse battery staple"


def make_user(username: str = "alice", **extra: Any) -> AbstractBaseUser:
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def api_client(user: AbstractBaseUser | None = None) -> APIClient:
    """An API client that authenticates with a real JWT access token."""
    client = APIClient()
    if user is not None:
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def picture(
    colour: tuple[int, int, int] = (220, 30, 30),
    size: tuple[int, int] = (96, 64),
    *,
    shape: str = "circle",
    background: tuple[int, int, int] = (245, 245, 245),
) -> PILImage.Image:
    """A simple drawing: distinct colours and shapes give distinct embeddings."""
    image = PILImage.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    w, h = size
    box = (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon(
            [(w // 2, h // 5), (w // 5, 4 * h // 5), (4 * w // 5, 4 * h // 5)], fill=colour
        )
    return image


def image_bytes(image: PILImage.Image | None = None, fmt: str = "PNG", **save: Any) -> bytes:
    out = io.BytesIO()
    (image or picture()).save(out, format=fmt, **save)
    return out.getvalue()


def upload_file(data: bytes, name: str = "photo.png") -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def srgb_profile(size: int = 0) -> bytes:
    """littlecms's sRGB profile, padded to `size` bytes by a private tag.

    A real profile that colour management still reads (the padding is a
    `data` tag no one looks up), standing in for the megabyte-sized camera and
    printer profiles with lookup tables that photos carry.
    """
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    count = int.from_bytes(profile[128:132], "big")
    table_end = 132 + 12 * count
    # Every tag moves down by the new table entry's 12 bytes.
    entries = b"".join(
        profile[at : at + 4]
        + (int.from_bytes(profile[at + 4 : at + 8], "big") + 12).to_bytes(4, "big")
        + profile[at + 8 : at + 12]
        for at in range(132, table_end, 12)
    )
    body = profile[table_end:] + bytes(-len(profile) % 4)
    blob_at = table_end + 12 + len(body)
    # A `data` tag: its type, 4 reserved bytes, a flag (1: binary), then the bytes.
    blob = b"data" + bytes(4) + (1).to_bytes(4, "big") + bytes(max(0, size - blob_at - 12))
    out = bytearray(
        profile[:128]
        + (count + 1).to_bytes(4, "big")
        + entries
        + b"zpad"
        + blob_at.to_bytes(4, "big")
        + len(blob).to_bytes(4, "big")
        + body
        + blob
    )
    out[0:4] = len(out).to_bytes(4, "big")  # The header's size field.
    out[84:100] = bytes(16)  # Profile ID: zero says "not computed".
    return bytes(out)
