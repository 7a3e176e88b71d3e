"""Admin for images, videos and auto-tag labels.

Images are changed only through services (`gallery.services`), so the
database, the stored files and the vector store never disagree: the change
form is read-only apart from the display name, deleting calls `image_delete`,
and visibility and indexing are actions. Videos likewise, through
`gallery.videos`; their review shows the moments that crossed a moderation
concept, each with its thumbnail, time and cosines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.errors import ApplicationError
from gallery.models import Image, ModerationDecision, TagLabel, VectorIndex, Video, VideoMoment
from gallery.moderation import image_review
from gallery.services import image_delete, image_reindex, image_set_visibility
from gallery.serving import serve_stored
from gallery.videos import video_delete, video_review, video_set_visibility

RowT = TypeVar("RowT", bound=Model)


def apply_each(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    rows: Iterable[RowT],
    change: Callable[[RowT], object],
) -> int:
    """Apply one service to each row; report failures without stopping. Returns how many took."""
    done = 0
    for row in rows:
        try:
            change(row)
        except ApplicationError as exc:
            model_admin.message_user(request, f"{row}: {exc.message}", messages.ERROR)
        else:
            done += 1
    return done


def serve_thumbnail(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, rows: QuerySet[Any], **lookup: Any
) -> HttpResponseBase:
    """The `thumbnail` of the row of `rows` that `lookup` finds, for staff who may view them.

    Whoever owns it: the API's thumbnail views show a user their own and
    public rows only, so they cannot preview other users' private images or
    videos here. An image's thumbnail and a video moment's both come here.
    """
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return serve_stored(request, get_object_or_404(rows, **lookup).thumbnail.name or "")


class ModerationDecisionInline(admin.TabularInline[ModerationDecision, Image]):
    model = ModerationDecision
    extra = 0
    can_delete = False
    fields = ("decided_at", "decision", "decided_by", "reason")
    readonly_fields = ("decided_at", "decision", "decided_by", "reason")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


IMAGE_FIELD_GROUPS: list[tuple[str | None, list[str]]] = [
    (None, ["large_preview", "original_filename", "owner", "visibility"]),
    ("Moderation", ["moderation", "moderation_reason"]),
    ("Indexing", ["status", "error", "model_id", "indexed_at", "tags"]),
    ("File", ["id", "sha256", "format", "dimensions", "mode", "size", "file", "thumbnail"]),
    ("Dates", ["taken_at", "uploaded_at"]),
]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin[Image]):
    list_display = [
        "preview",
        "original_filename",
        "owner",
        "format",
        "dimensions",
        "visibility",
        "status",
        "moderation",
        "uploaded_at",
    ]
    list_display_links = ["preview", "original_filename"]
    list_filter = [
        "status",
        "moderation",
        "format",
        "visibility",
        ("owner", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["original_filename"]
    list_select_related = ["owner"]
    list_per_page = 50
    actions = ["approve", "reject", "reindex", "make_private"]
    inlines = [ModerationDecisionInline]
    fieldsets = [(title, {"fields": tuple(names)}) for title, names in IMAGE_FIELD_GROUPS]
    # Everything shown is computed or changed through services (actions), except the name.
    readonly_fields = [
        name for _, names in IMAGE_FIELD_GROUPS for name in names if name != "original_filename"
    ]

    class Media:
        css = {"all": ["gallery/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Images come in through upload and import, which validate them.

    @admin.display(description="Preview")
    def preview(self, image: Image) -> str:
        return format_html(
            '<img class="image-preview" src="{}" alt="" width="64" height="64" loading="lazy">',
            self._thumbnail_url(image),
        )

    @admin.display(description="Preview")
    def large_preview(self, image: Image) -> str:
        return format_html(
            '<img class="image-preview image-preview--large" src="{}" alt="{}">',
            self._thumbnail_url(image),
            image.original_filename,
        )

    @admin.display(description="Dimensions", ordering="width")
    def dimensions(self, image: Image) -> str:
        return f"{image.width} \N{MULTIPLICATION SIGN} {image.height}"

    @admin.action(description="Approve selected images (moderation)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        self._review(request, queryset, "approve")

    @admin.action(description="Reject selected images (moderation)", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        self._review(request, queryset, "reject")

    def _review(self, request: HttpRequest, queryset: QuerySet[Image], decision: str) -> None:
        done = apply_each(
            self,
            request,
            queryset,
            lambda image: image_review(
                image=image,
                decision=decision,
                reviewer=request.user,  # type: ignore[arg-type]
                reason="admin action",
            ),
        )
        self.message_user(request, f"{done} image(s): {decision}d.", messages.SUCCESS)

    @admin.action(description="Index selected images again", permissions=["change"])
    def reindex(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        done = apply_each(self, request, queryset, lambda image: image_reindex(image=image))
        self.message_user(request, f"{done} image(s) queued for indexing.", messages.SUCCESS)

    @admin.action(description="Make selected images private", permissions=["change"])
    def make_private(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        done = apply_each(
            self,
            request,
            queryset,
            lambda image: image_set_visibility(image=image, visibility=Image.Visibility.PRIVATE),
        )
        self.message_user(request, f"{done} image(s) are now private.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Image) -> None:
        image_delete(image=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        apply_each(self, request, queryset, lambda image: image_delete(image=image))

    def get_urls(self) -> list[URLPattern]:
        thumbnail = path(
            "<uuid:pk>/thumbnail/",
            self.admin_site.admin_view(self.thumbnail_view),
            name="gallery_image_thumbnail",
        )
        return [thumbnail, *super().get_urls()]

    def thumbnail_view(self, request: HttpRequest, pk: UUID) -> HttpResponseBase:
        """Any image's thumbnail for staff who may view images."""
        return serve_thumbnail(self, request, Image.objects.all(), pk=pk)

    def _thumbnail_url(self, image: Image) -> str:
        return reverse(f"{self.admin_site.name}:gallery_image_thumbnail", kwargs={"pk": image.pk})


VIDEO_FIELD_GROUPS: list[tuple[str | None, list[str]]] = [
    (None, ["original_filename", "owner", "visibility"]),
    ("Moderation", ["moderation", "moderation_reason", "crossed_moments"]),
    (
        "Indexing",
        ["status", "error", "progress", "moments_indexed", "indexed_until", "model_id"],
    ),
    ("File", ["id", "sha256", "format", "codec", "size", "file", "poster"]),
    ("Stream", ["width", "height", "rotation", "duration", "frame_rate"]),
    ("Dates", ["taken_at", "uploaded_at", "indexed_at"]),
]
# How many crossing moments a changelist row shows; the change page shows them all.
LISTED_MOMENTS = 3


def clock(seconds: float) -> str:
    """`seconds` into a video as m:ss (75:03 past the hour), as players show it."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin[Video]):
    """Videos, read-only: they change through `gallery.videos`, as images through services.

    A flagged video is reviewed here as a flagged image is: filter by
    moderation, look at the moments that crossed a concept (on each row and on
    the change page), and approve or reject it with the actions.
    """

    list_display = [
        "original_filename",
        "owner",
        "format",
        "codec",
        "duration",
        "visibility",
        "status",
        "progress",
        "moderation",
        "crossed",
        "uploaded_at",
    ]
    list_filter = ["status", "moderation", "format", "codec", "visibility"]
    search_fields = ["original_filename"]
    list_select_related = ["owner"]
    list_per_page = 50
    actions = ["approve", "reject", "make_private"]
    fieldsets = [(title, {"fields": tuple(names)}) for title, names in VIDEO_FIELD_GROUPS]

    class Media:
        css = {"all": ["gallery/admin.css", "gallery/admin-moments.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Video]:
        # One query for the crossing moments of a whole page of rows.
        crossed = VideoMoment.objects.exclude(flagged="").order_by("start")
        moments = Prefetch("moments", queryset=crossed, to_attr="crossed_moment_rows")
        return super().get_queryset(request).prefetch_related(moments)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Video._meta.fields] + ["crossed_moments"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Videos come in through upload, which probes them.

    @admin.display(description="Crossed moments")
    def crossed(self, video: Video) -> str:
        moments = self._crossed(video)
        shown = self._moments_html(video, moments[:LISTED_MOMENTS])
        if len(moments) <= LISTED_MOMENTS:
            return shown
        more = reverse(f"{self.admin_site.name}:gallery_video_change", args=[video.pk])
        return format_html(
            '{}<a href="{}">and {} more</a>', shown, more, len(moments) - LISTED_MOMENTS
        )

    @admin.display(description="Moments that crossed a concept")
    def crossed_moments(self, video: Video) -> str:
        return self._moments_html(video, self._crossed(video)) or "None"

    @admin.action(description="Approve selected videos (moderation)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        self._review(request, queryset, "approve")

    @admin.action(description="Reject selected videos (moderation)", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        self._review(request, queryset, "reject")

    def _review(self, request: HttpRequest, queryset: QuerySet[Video], decision: str) -> None:
        done = apply_each(
            self,
            request,
            queryset,
            lambda video: video_review(
                video=video,
                decision=decision,
                reviewer=request.user,  # type: ignore[arg-type]
                reason="admin action",
            ),
        )
        self.message_user(request, f"{done} video(s): {decision}d.", messages.SUCCESS)

    @admin.action(description="Make selected videos private", permissions=["change"])
    def make_private(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        done = apply_each(
            self,
            request,
            queryset,
            lambda video: video_set_visibility(video=video, visibility=Image.Visibility.PRIVATE),
        )
        self.message_user(request, f"{done} video(s) are now private.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Video) -> None:
        video_delete(video=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        apply_each(self, request, queryset, lambda video: video_delete(video=video))

    def get_urls(self) -> list[URLPattern]:
        thumbnail = path(
            "<uuid:pk>/moments/<uuid:point>/thumbnail/",
            self.admin_site.admin_view(self.moment_thumbnail_view),
            name="gallery_video_moment_thumbnail",
        )
        return [thumbnail, *super().get_urls()]

    def moment_thumbnail_view(
        self, request: HttpRequest, pk: UUID, point: UUID
    ) -> HttpResponseBase:
        """Any video moment's thumbnail, by its point id, for staff who may view videos."""
        return serve_thumbnail(
            self, request, VideoMoment.objects.all(), video_id=pk, point_id=point
        )

    def _crossed(self, video: Video) -> Sequence[VideoMoment]:
        prefetched = getattr(video, "crossed_moment_rows", None)
        if prefetched is not None:
            return prefetched
        return list(video.moments.exclude(flagged="").order_by("start"))

    def _moments_html(self, video: Video, moments: Sequence[VideoMoment]) -> SafeString:
        """Each moment's thumbnail and time, linking to the video page at its start, and
        the concepts it crossed with their cosines ("concept (0.231), ...", as screened)."""
        if not moments:
            return SafeString("")
        page = reverse("gallery:video", kwargs={"pk": video.pk})
        rows = []
        for moment in moments:
            link = f"{page}?t={moment.start:.1f}"
            span = f"{clock(moment.start)}\N{EN DASH}{clock(moment.end)}"
            thumbnail = self._moment_thumbnail_url(video, moment)
            rows.append((link, thumbnail, span, link, span, moment.flagged))
        items = format_html_join(
            "",
            '<li class="crossed-moment"><a href="{}"><img class="image-preview" src="{}"'
            ' alt="At {}" width="64" height="64" loading="lazy"></a>'
            ' <a class="crossed-moment__time" href="{}">{}</a>'
            ' <span class="crossed-moment__concepts">{}</span></li>',
            rows,
        )
        return format_html('<ul class="crossed-moments">{}</ul>', items)

    def _moment_thumbnail_url(self, video: Video, moment: VideoMoment) -> str:
        return reverse(
            f"{self.admin_site.name}:gallery_video_moment_thumbnail",
            kwargs={"pk": video.pk, "point": moment.point_id},
        )


@admin.register(TagLabel)
class TagLabelAdmin(admin.ModelAdmin[TagLabel]):
    list_display = ["name", "active"]
    list_editable = ["active"]
    search_fields = ["name"]


@admin.register(VectorIndex)
class VectorIndexAdmin(admin.ModelAdmin[VectorIndex]):
    list_display = ["collection", "model_id", "dim", "state", "created_at", "activated_at"]
    readonly_fields = ["model_name", "model_id", "collection", "dim", "created_at", "activated_at"]
