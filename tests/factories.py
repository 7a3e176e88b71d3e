"""Typed builders for users, image bytes and authenticated API clients."""

from __future__ import annotations

import io
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from PIL import Image as PILImage
from PIL import ImageDraw
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
