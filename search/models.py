"""What search remembers: people's feedback on the results they were shown."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from django.conf import settings
from django.db import models


class FeedbackQuerySet(models.QuerySet["Feedback"]):
    def older_than(self, moment: datetime) -> Self:
        """Rows last touched before `moment` (what the retention prunes)."""
        return self.filter(updated_at__lt=moment)


class Feedback(models.Model):
    """One user's judgement of one result of one query, on one model's collection.

    A row per (user, query, collection, item): a mark (`relevant`) and a click
    (`opened`) on the same result are two facts of one row. With the `rank` the
    result was shown at, marks give precision@k per collection and mode, and
    opens the click-through and reciprocal ranks. Items are ids, not foreign
    keys: a deleted image keeps the judgements made of the model that found it.
    """

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="search_feedback"
    )
    # SearchRequest.fingerprint(): the query apart from paging.
    query = models.CharField(max_length=64)
    # The vector collection (one per model) whose ranking was shown.
    collection = models.CharField(max_length=255)
    mode = models.CharField(max_length=16)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    item_id = models.UUIDField()
    # 1-based, across the query's pages.
    rank = models.PositiveIntegerField()
    # None: not marked (only opened).
    relevant = models.BooleanField(null=True)
    opened = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "query", "collection", "kind", "item_id"],
                name="search_feedback_one_per_item",
            )
        ]
        indexes = [
            # The live metrics: per collection and mode, over a recent window.
            models.Index(fields=["collection", "mode", "updated_at"], name="search_fb_window"),
            # The retention's prune.
            models.Index(fields=["updated_at"], name="search_fb_updated"),
        ]

    def __str__(self) -> str:
        judged = {True: "relevant", False: "not relevant", None: "unmarked"}[self.relevant]
        return f"{self.kind} {self.item_id} at {self.rank}: {judged}"
