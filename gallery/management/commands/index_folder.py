from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ApplicationError
from encoder.clip import EncoderUnavailable, get_encoder
from gallery.bulk import folder_import
from gallery.importing import ImportSummary, count_image_files, iter_image_files, quiet_task_logs
from gallery.models import Image


class Command(BaseCommand):
    help = (
        "Import every image under a folder (recursively) and index it. "
        "Interrupted imports resume: files already imported are skipped unread by the model."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--owner", help="Username that will own the images (default: the only user)."
        )
        parser.add_argument(
            "--visibility", choices=Image.Visibility.values, default=Image.Visibility.PRIVATE
        )
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Encode here even when a broker is configured (default: queue for the workers).",
        )

    def handle(
        self,
        *args: Any,
        path: Path,
        owner: str | None,
        visibility: str,
        in_process: bool,
        **options: Any,
    ) -> None:
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory.")
        user = self._owner(owner)
        in_process = in_process or settings.CELERY_TASK_ALWAYS_EAGER
        if in_process:
            # Fail before touching anything if the model cannot load.
            try:
                get_encoder()
            except EncoderUnavailable as exc:
                raise CommandError(exc.message) from exc

        total = count_image_files(path)
        with (
            quiet_task_logs(),
            tqdm(total=total, unit="img", desc="Importing", file=self.stderr._out) as bar,
        ):

            def progress(summary: ImportSummary) -> None:
                bar.update(summary.processed - bar.n)
                bar.set_postfix(ok=summary.imported, skipped=summary.skipped, failed=summary.failed)

            try:
                summary = folder_import(
                    owner=user,
                    files=iter_image_files(path),
                    visibility=visibility,
                    in_process=in_process,
                    progress=progress,
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        self._report(summary, elapsed=bar.format_dict.get("elapsed", 0.0))

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

    def _report(self, summary: ImportSummary, *, elapsed: float) -> None:
        queued = summary.imported - summary.indexed
        self.stdout.write(
            f"Imported {summary.imported} (indexed {summary.indexed}"
            + (f", queued {queued}" if queued else "")
            + f"), skipped {summary.skipped}, failed {summary.failed}."
        )
        if summary.resumed:
            self.stdout.write(f"  indexed {summary.resumed} left pending by an earlier run")
        if elapsed > 0 and summary.imported:
            self.stdout.write(f"  {summary.imported / elapsed:.1f} images/s")
        for reason, count in summary.reasons.most_common():
            self.stdout.write(f"  {reason}: {count}")
        for file_path, message in summary.failures[:20]:
            self.stdout.write(f"  failed {file_path}: {message}")
        if summary.failed > 20:
            self.stdout.write(f"  ... and {summary.failed - 20} more failures")
