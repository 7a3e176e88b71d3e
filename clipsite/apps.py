from __future__ import annotations

from django.apps import AppConfig


class ClipsiteConfig(AppConfig):
    name = "clipsite"

    def ready(self) -> None:
        from clipsite import checks  # noqa: F401  (registers the system checks)
