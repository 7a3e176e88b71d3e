"""The Celery application, configured from Django settings (`CELERY_*`)."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")

app = Celery("clipsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "requeue-stale-pending-images": {
        "task": "workers.tasks.requeue_stale_task",
        "schedule": 600.0,
    },
    "reconcile-rows-files-vectors": {
        "task": "workers.tasks.reconcile_task",
        "schedule": 3600.0,
    },
}


@signals.worker_init.connect
def _load_encoder_at_startup(**kwargs: object) -> None:
    """Fail worker startup, loudly, when CLIP_MODEL cannot be loaded.

    Without this a worker would start, take tasks, and fail each one.
    """
    from encoder.clip import get_encoder

    get_encoder()


@signals.task_prerun.connect
def _bind_log_context(task: object, args: object, kwargs: object, **extra: object) -> None:
    from core.logcontext import bind_task_context

    bind_task_context(task, args, kwargs)


@signals.task_postrun.connect
def _clear_log_context(**extra: object) -> None:
    from core.logcontext import clear_task_context

    clear_task_context()
