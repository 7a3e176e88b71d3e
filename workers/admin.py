from __future__ import annotations

from django.contrib import admin

from workers.models import VectorIndex


@admin.register(VectorIndex)
class VectorIndexAdmin(admin.ModelAdmin[VectorIndex]):
    list_display = ["collection", "model_id", "dim", "state", "created_at", "activated_at"]
    readonly_fields = ["model_name", "model_id", "collection", "dim", "created_at", "activated_at"]
