from __future__ import annotations

from django.apps import AppConfig


class ClipsiteConfig(AppConfig):
    name = "clipsite"

    def ready(self) -> None:
        from clipsite import checks, schema  # noqa: F401  (register checks and schema extensions)
