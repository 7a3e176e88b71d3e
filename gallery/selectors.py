"""Reads of images for the pages: which rows a user sees, narrowed by the page's filters."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from gallery.models import Image, ImageQuerySet


def gallery_images(
    *,
    user: AbstractBaseUser | AnonymousUser,
    mine: bool = False,
    place: str = "",
    camera: str = "",
) -> ImageQuerySet:
    """The images `user` may see (only their own with `mine`), newest first.

    `place` is a city, region or country name (or a country code), matched whole and
    case-insensitively, and only where `user` may see where the photo was taken: their
    own images, and others' whose owners share it (`Image.location_visible_to`).
    `camera` narrows to photos whose make or model holds each of its words.
    """
    images = Image.objects.owned_by(user) if mine else Image.objects.visible_to(user)
    place = " ".join(place.split())
    if place:
        named = (
            Q(place_city__iexact=place)
            | Q(place_region__iexact=place)
            | Q(place_country__iexact=place)
            | Q(place_country_code__iexact=place)
        )
        seen = Q(location_shared=True)
        if user.is_authenticated:
            seen |= Q(owner_id=user.pk)
        images = images.filter(named & seen)
    for word in camera.split():
        images = images.filter(Q(camera_make__icontains=word) | Q(camera_model__icontains=word))
    return images
