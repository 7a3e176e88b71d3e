"""Which vector collection search reads, so a model change can switch over atomically."""

from __future__ import annotations

from django.db import models


class VectorIndex(models.Model):
    """One model's collection. Search reads the single ACTIVE one.

    A new `CLIP_MODEL` gets a BUILDING index that `manage.py reindex` fills;
    search keeps using the old ACTIVE index until the new one is complete,
    then the two swap in one transaction (what a Qdrant alias swap does, but
    for both the server and the embedded engine).
    """

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    model_name = models.CharField(max_length=500, help_text="CLIP_MODEL: hub id or directory.")
    model_id = models.CharField(max_length=255)
    collection = models.CharField(max_length=255, unique=True)
    dim = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="one_active_index"
            )
        ]

    def __str__(self) -> str:
        return f"{self.collection} ({self.state})"
