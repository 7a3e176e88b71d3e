#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # The settings module itself failed (a missing SECRET_KEY, a malformed
        # value: core.env.ConfigError): its message names the variable, and a
        # traceback through Django's loader would only bury it. A command that
        # fails after the settings loaded keeps its traceback.
        if settings.configured:
            raise
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
