"""What the staff status page reports: images by status, moderation's queue, the model,
the index and the task queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.db.models import Count
from kombu.exceptions import ChannelError

from core.errors import ApplicationError
from gallery.indexes import search_encoder
from gallery.indexing import INDEX_TASK
from gallery.models import Image, Video
from vectorstore import get_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass
class SystemStatus:
    counts: list[StatusCount]
    model_id: str | None = None
    collection: str | None = None
    index_size: int | None = None
    # None while tasks run in the web process (no broker), or when the broker
    # cannot be asked; `queue_note` says which.
    queue_depth: int | None = None
    queue_note: str = ""
    # Images and videos flagged by moderation and not yet reviewed by staff.
    awaiting_review: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.count for c in self.counts)


def system_status() -> SystemStatus:
    """Gather the status page's numbers. Read-only; a backing service that is down becomes
    a line in `problems` instead of an error, so the page still shows what it can."""
    found = dict(
        Image.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    report = SystemStatus(
        counts=[
            StatusCount(status=value, label=str(label), count=found.get(value, 0))
            for value, label in Image.Status.choices
        ],
        awaiting_review=Image.objects.awaiting_review().count()
        + Video.objects.awaiting_review().count(),
    )
    _add_index(report)
    _add_queue(report)
    return report


def _add_index(report: SystemStatus) -> None:
    try:
        encoder = search_encoder()
        report.model_id = encoder.model_id
        report.collection = encoder.collection_name
        report.index_size = get_store().count(encoder.collection_name)
    except ApplicationError as exc:
        report.problems.append(exc.message)


def _add_queue(report: SystemStatus) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        report.queue_note = "in process (no broker: tasks run in the web process)"
        return
    try:
        report.queue_depth = broker_queue_depth()
    except Exception as exc:
        logger.warning("Cannot read the task queue's depth", exc_info=True)
        report.queue_note = "unavailable"
        report.problems.append(f"The task broker did not answer: {type(exc).__name__}: {exc}")


def broker_queue_depth(queue: str | None = None) -> int:
    """Tasks waiting in the broker's `queue` (default: the one indexing is routed to);
    raises when the broker does not answer within about two seconds."""
    if queue is None:
        queue = current_app.amqp.router.route({}, INDEX_TASK)["queue"].name
    with current_app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel: Any = conn.default_channel  # kombu's stubs omit queue_declare
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
        except ChannelError:
            # Redis drops an empty list's key, so an empty queue "does not exist".
            return 0
        return int(declared.message_count)
