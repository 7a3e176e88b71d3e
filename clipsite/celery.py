"""The Celery application, configured from Django settings (`CELERY_*`)."""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery, signals
from django.conf import settings

from core.logcontext import bind_task_context, clear_task_context
from encoder import get_encoder
from workers import timelimits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")

app = Celery("clipsite")
# The app every thread's `celery.current_app` names (Celery makes an app current in
# the thread that creates it only): gunicorn's request threads queue tasks, and the
# layers below `workers` queue them by name through it.
app.set_default()
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
    "prune-old-feedback": {
        "task": "workers.tasks.feedback_prune_task",
        "schedule": 86400.0,
    },
}


@signals.setup_logging.connect
def _keep_the_projects_logging(**kwargs: object) -> None:
    """Workers log as the web tier does (LOG_FORMAT, the request and image ids).

    Without a receiver here Celery replaces the root logger's handlers with its
    own, which drops the JSON formatter and the context filter.
    """
    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
def _load_encoder_at_startup(**kwargs: object) -> None:
    """Fail worker startup, loudly, when CLIP_MODEL cannot be loaded.

    Without this a worker would start, take tasks, and fail each one.
    """
    get_encoder()


# Set in a worker process (prefork's children inherit it), so that tasks run
# eagerly in the web process or a test are never given a signal-based limit.
_in_worker = False


@signals.worker_init.connect
def _mark_worker_process(**kwargs: object) -> None:
    global _in_worker
    _in_worker = True


@signals.task_prerun.connect
def _bind_log_context(task: object, args: object, kwargs: object, **extra: object) -> None:
    bind_task_context(task, args, kwargs)


@signals.task_prerun.connect
def _arm_time_limits(task: Any, **extra: object) -> None:
    """Every task's soft and hard limits, which the solo pool and celery-batches do not
    enforce (`workers.timelimits`). Armed in prefork children too: for a plain task
    prefork's own limits expire at the same moment, with the same outcome."""
    if not _in_worker or task.request.is_eager or not timelimits.can_arm():
        return
    limits = timelimits.limits_for(task)
    if limits is not None:
        timelimits.arm(soft=limits[0], hard=limits[1], name=task.name)


@signals.task_postrun.connect
def _disarm_time_limits(**extra: object) -> None:
    timelimits.disarm()


@signals.task_postrun.connect
def _clear_log_context(**extra: object) -> None:
    clear_task_context()
