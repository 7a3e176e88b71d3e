"""Reads for the gallery page: the images and videos a user sees, in one list, newest first.

One list with one pager, not a section per kind: a page holds the newest uploads of
both, as they came. The list is a union of ids and upload times (one query), then the
rows of the page only (one query per kind).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar, overload

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import CharField, Value

from gallery.models import Image, ImageQuerySet, Video, VideoQuerySet
from gallery.selectors import gallery_images

_IMAGE, _VIDEO = "image", "video"


@dataclass(frozen=True)
class Entry:
    """One tile of the gallery: an image or a video (the other is None), as search results are."""

    image: Image | None = None
    video: Video | None = None

    @staticmethod
    def of(row: Image | Video) -> Entry:
        return Entry(video=row) if isinstance(row, Video) else Entry(image=row)


T = TypeVar("T")


class Timeline(Generic[T]):
    """Images and videos by upload time (newest first, or oldest), as Django's `Paginator`
    takes them: `count()`, and a slice gives that part's rows, each made an entry by
    `entry` (the gallery's `Entry`, or the review queue's)."""

    def __init__(
        self,
        images: ImageQuerySet,
        videos: VideoQuerySet,
        *,
        entry: Callable[[Image | Video], T],
        newest_first: bool = True,
    ) -> None:
        self.images = images
        self.videos = videos
        self.entry = entry
        self.order = ("-uploaded_at", "-id") if newest_first else ("uploaded_at", "id")

    @cached_property
    def image_count(self) -> int:
        return self.images.count()

    @cached_property
    def video_count(self) -> int:
        return self.videos.count()

    def count(self) -> int:
        return self.image_count + self.video_count

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[T]:
        return iter(self[:])

    @overload
    def __getitem__(self, part: int) -> T: ...

    @overload
    def __getitem__(self, part: slice) -> list[T]: ...

    def __getitem__(self, part: int | slice) -> T | list[T]:
        if isinstance(part, int):
            found = self[part : part + 1] if part >= 0 else []
            if not found:
                raise IndexError(part)
            return found[0]
        kind = CharField()
        keys = list(
            self.images.order_by()
            .annotate(kind=Value(_IMAGE, output_field=kind))
            .values_list("id", "uploaded_at", "kind")
            .union(
                self.videos.order_by()
                .annotate(kind=Value(_VIDEO, output_field=kind))
                .values_list("id", "uploaded_at", "kind"),
                all=True,
            )
            # The id breaks ties, so pages stay disjoint when uploads share a time.
            .order_by(*self.order)[part]
        )
        images = self.images.select_related("owner").in_bulk(
            [pk for pk, _, what in keys if what == _IMAGE]
        )
        videos = self.videos.select_related("owner").in_bulk(
            [pk for pk, _, what in keys if what == _VIDEO]
        )
        rows: list[Image | Video] = []
        for pk, _, what in keys:
            # A row deleted (or reviewed) between the two reads is left out of the page.
            if what == _IMAGE and pk in images:
                rows.append(images[pk])
            elif what == _VIDEO and pk in videos:
                rows.append(videos[pk])
        return [self.entry(row) for row in rows]


def gallery_timeline(
    *,
    user: AbstractBaseUser | AnonymousUser,
    mine: bool = False,
    place: str = "",
    camera: str = "",
) -> Timeline[Entry]:
    """The images (`gallery_images`, with its filters) and videos `user` may see, newest first.

    `mine` keeps only their own. Videos have no place or camera, so a `place` or
    `camera` filter leaves them out.
    """
    images = gallery_images(user=user, mine=mine, place=place, camera=camera)
    if " ".join(place.split()) or camera.split():
        videos = Video.objects.none()
    elif mine:
        videos = Video.objects.owned_by(user)
    else:
        videos = Video.objects.visible_to(user)
    return Timeline(images, videos, entry=Entry.of)
