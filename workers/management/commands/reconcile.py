from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from gallery.reconcile import reconcile
from vectorstore import VectorStoreUnavailable


class Command(BaseCommand):
    help = "Compare image rows, stored files and vectors; repair missing and orphan vectors."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report only.")
        parser.add_argument("--skip-files", action="store_true", help="Do not list storage.")

    def handle(self, *args: Any, dry_run: bool, skip_files: bool, **options: Any) -> None:
        try:
            report = reconcile(fix=not dry_run, check_files=not skip_files)
        except VectorStoreUnavailable as exc:
            raise CommandError(exc.message) from exc
        for line in report.lines():
            self.stdout.write(line)
