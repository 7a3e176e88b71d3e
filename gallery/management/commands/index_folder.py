from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from gallery.importing import ImportSummary, import_one, iter_image_files, quiet_task_logs
from gallery.models import Image
from workers.encoder import EncoderUnavailable, get_encoder


class Command(BaseCommand):
    help = "Import every image under a folder (recursively) and index it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--owner", help="Username that will own the images (default: the only user)."
        )
        parser.add_argument(
            "--visibility", choices=Image.Visibility.values, default=Image.Visibility.PRIVATE
        )

    def handle(
        self, *args: Any, path: Path, owner: str | None, visibility: str, **options: Any
    ) -> None:
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory.")
        user = self._owner(owner)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # Fail before touching anything if the model cannot load.
            try:
                get_encoder()
            except EncoderUnavailable as exc:
                raise CommandError(exc.message) from exc

        summary = ImportSummary()
        files = iter_image_files(path)
        with (
            quiet_task_logs(),
            tqdm(files, unit="img", desc="Importing", file=self.stderr._out) as bar,
        ):
            for file_path in bar:
                import_one(owner=user, path=file_path, visibility=visibility, summary=summary)
                bar.set_postfix(ok=summary.imported, skipped=summary.skipped, failed=summary.failed)
        self._report(summary)

    def _owner(self, username: str | None) -> Any:
        users = get_user_model().objects
        if username:
            try:
                return users.get(username=username)
            except users.model.DoesNotExist:
                raise CommandError(f"No user named {username!r}.") from None
        if users.count() == 1:
            return users.get()
        raise CommandError("Say which user owns the images with --owner USERNAME.")

    def _report(self, summary: ImportSummary) -> None:
        queued = summary.imported - summary.indexed - summary.reasons.get("index_failed", 0)
        self.stdout.write(
            f"Imported {summary.imported} (indexed {summary.indexed}"
            + (f", queued {queued}" if queued else "")
            + f"), skipped {summary.skipped}, failed {summary.failed}."
        )
        for reason, count in summary.reasons.most_common():
            self.stdout.write(f"  {reason}: {count}")
        for file_path, message in summary.failures[:20]:
            self.stdout.write(f"  failed {file_path}: {message}")
        if len(summary.failures) > 20:
            self.stdout.write(f"  ... and {len(summary.failures) - 20} more failures")
