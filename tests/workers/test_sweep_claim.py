"""The requeue sweep against a real backlog in Redis: it claims what it queues, so no
image is queued twice, by a second sweep or by one running at the same time."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gallery.models import Image
from gallery.status import broker_queue_depth
from tests.factories import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def empty_queues() -> Iterator[None]:
    from clipsite.celery import app

    app.control.purge()
    yield
    app.control.purge()


def _backlog(count: int) -> list[str]:
    """`count` images pending for an hour whose messages were lost (no worker, none queued)."""
    owner = make_user("backlog")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    images = Image.objects.bulk_create(
        Image(
            owner=owner,
            file=f"images/lost/{n}.png",
            sha256=f"{n:064x}",
            format="PNG",
            width=1,
            height=1,
            mode="RGB",
            size=1,
            uploaded_at=an_hour_ago,
        )
        for n in range(count)
    )
    return sorted(str(image.pk) for image in images)


def _queued_image_ids() -> list[str]:
    """The image ids of the indexing messages waiting in Redis, one per message."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    ids = []
    for raw in client.lrange("index", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "workers.tasks.index_image_task"
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        ids.append(kwargs.get("image_id") or args[0])
    return sorted(ids)


def test_a_second_sweep_within_the_window_queues_none_of_the_backlog_again(
    empty_queues: None,
) -> None:
    from workers.tasks import requeue_stale_task

    backlog = _backlog(40)

    assert requeue_stale_task.apply().get() == 40
    assert requeue_stale_task.apply().get() == 0

    assert broker_queue_depth() == 40
    assert _queued_image_ids() == backlog  # each image once, on the index queue
    assert broker_queue_depth("maintenance") == 0


def test_the_sweep_queues_its_claims_again_once_the_window_has_passed(
    empty_queues: None,
) -> None:
    from workers.tasks import requeue_stale_task

    backlog = _backlog(5)
    assert requeue_stale_task.apply().get() == 5
    # Still pending a window later: those messages were lost too.
    Image.objects.update(queued_at=timezone.now() - timedelta(minutes=16))

    assert requeue_stale_task.apply().get() == 5
    assert _queued_image_ids() == sorted(backlog * 2)


def test_a_sweep_skips_the_rows_another_sweep_holds_instead_of_queueing_them_twice(
    empty_queues: None,
) -> None:
    """Two sweeps at once (two beat instances, a manual run): the rows one has locked are
    skipped by the other, not waited for and not queued again."""
    from workers.tasks import requeue_stale_task

    backlog = _backlog(20)
    held = backlog[:8]
    locked, release, results = threading.Event(), threading.Event(), {}

    def first_sweep_mid_claim() -> None:
        try:
            with transaction.atomic():
                list(Image.objects.select_for_update().filter(pk__in=held))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    def second_sweep() -> None:
        try:
            results["second"] = requeue_stale_task.apply().get()
        finally:
            connection.close()

    holder = threading.Thread(target=first_sweep_mid_claim)
    holder.start()
    try:
        assert locked.wait(30)
        sweeper = threading.Thread(target=second_sweep)
        sweeper.start()
        sweeper.join(20)
        assert not sweeper.is_alive(), "the sweep waited on the locked rows"
    finally:
        release.set()
        holder.join(30)

    assert results["second"] == 12
    assert requeue_stale_task.apply().get() == 8  # the held ones, once released
    assert _queued_image_ids() == backlog


def test_a_reindexed_image_is_not_swept_while_its_message_waits(empty_queues: None) -> None:
    """Queued again by a reindex long after its upload, it waits a full window first."""
    from gallery.services import image_reindex
    from workers.tasks import requeue_stale_task

    [image_id] = _backlog(1)
    image = Image.objects.get(pk=uuid.UUID(image_id))
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED)
    image.refresh_from_db()

    image_reindex(image=image)

    assert requeue_stale_task.apply().get() == 0
    assert _queued_image_ids() == [image_id]  # the reindex's own message only
