from __future__ import annotations

from django.contrib import admin

from gallery.models import Image, TagLabel


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin[Image]):
    list_display = [
        "original_filename",
        "owner",
        "format",
        "width",
        "height",
        "visibility",
        "status",
        "uploaded_at",
    ]
    list_filter = ["status", "format", "visibility"]
    search_fields = ["original_filename"]
    list_select_related = ["owner"]
    readonly_fields = [
        "id",
        "sha256",
        "width",
        "height",
        "format",
        "mode",
        "size",
        "model_id",
        "indexed_at",
        "error",
    ]


@admin.register(TagLabel)
class TagLabelAdmin(admin.ModelAdmin[TagLabel]):
    list_display = ["name", "active"]
    list_editable = ["active"]
    search_fields = ["name"]
