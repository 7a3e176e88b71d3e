from __future__ import annotations

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"

    def ready(self) -> None:
        # Registers the tasks with Celery in every process, so that services
        # below this layer can queue them by name (`gallery.indexing.INDEX_TASK`).
        from workers import tasks  # noqa: F401
