"""Admin for images, videos and auto-tag labels.

Images are changed only through services (`gallery.services`), so the
database, the stored files and the vector store never disagree: the change
form is read-only apart from the display name, deleting calls `image_delete`,
and visibility and indexing are actions.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.errors import ApplicationError
from gallery.models import Image, ModerationDecision, TagLabel, VectorIndex, Video
from gallery.moderation import image_review
from gallery.services import image_delete, image_reindex, image_set_visibility
from gallery.serving import serve_stored
from gallery.videos import video_delete, video_set_visibility


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
        done = self._each(
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
        done = self._each(request, queryset, lambda image: image_reindex(image=image))
        self.message_user(request, f"{done} image(s) queued for indexing.", messages.SUCCESS)

    @admin.action(description="Make selected images private", permissions=["change"])
    def make_private(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        done = self._each(
            request,
            queryset,
            lambda image: image_set_visibility(image=image, visibility=Image.Visibility.PRIVATE),
        )
        self.message_user(request, f"{done} image(s) are now private.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Image) -> None:
        image_delete(image=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        self._each(request, queryset, lambda image: image_delete(image=image))

    def get_urls(self) -> list[URLPattern]:
        thumbnail = path(
            "<uuid:pk>/thumbnail/",
            self.admin_site.admin_view(self.thumbnail_view),
            name="gallery_image_thumbnail",
        )
        return [thumbnail, *super().get_urls()]

    def thumbnail_view(self, request: HttpRequest, pk: UUID) -> HttpResponseBase:
        """Any image's thumbnail for staff who may view images.

        The API's thumbnail view shows a user their own and public images only,
        so it cannot preview other users' private images here.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        return serve_stored(request, get_object_or_404(Image, pk=pk).thumbnail.name or "")

    def _thumbnail_url(self, image: Image) -> str:
        return reverse(f"{self.admin_site.name}:gallery_image_thumbnail", kwargs={"pk": image.pk})

    def _each(self, request: HttpRequest, queryset: QuerySet[Image], change: Any) -> int:
        """Apply one service to each image; report failures without stopping."""
        done = 0
        for image in queryset:
            try:
                change(image)
            except ApplicationError as exc:
                self.message_user(request, f"{image}: {exc.message}", messages.ERROR)
            else:
                done += 1
        return done


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin[Video]):
    """Videos, read-only: they change through `gallery.videos`, as images through services."""

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
        "uploaded_at",
    ]
    list_filter = ["status", "moderation", "format", "codec", "visibility"]
    search_fields = ["original_filename"]
    list_select_related = ["owner"]
    list_per_page = 50
    actions = ["make_private"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Video._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Videos come in through upload, which probes them.

    @admin.action(description="Make selected videos private", permissions=["change"])
    def make_private(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        for video in queryset:
            video_set_visibility(video=video, visibility=Image.Visibility.PRIVATE)
        self.message_user(request, f"{len(queryset)} video(s) are now private.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Video) -> None:
        video_delete(video=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        for video in queryset:
            video_delete(video=video)


@admin.register(TagLabel)
class TagLabelAdmin(admin.ModelAdmin[TagLabel]):
    list_display = ["name", "active"]
    list_editable = ["active"]
    search_fields = ["name"]


@admin.register(VectorIndex)
class VectorIndexAdmin(admin.ModelAdmin[VectorIndex]):
    list_display = ["collection", "model_id", "dim", "state", "created_at", "activated_at"]
    readonly_fields = ["model_name", "model_id", "collection", "dim", "created_at", "activated_at"]
