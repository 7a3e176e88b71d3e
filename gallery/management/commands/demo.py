from __future__ import annotations

import secrets
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ApplicationError
from demo import generate_scenes, write_labelled_folder
from encoder.clip import EncoderUnavailable, get_encoder
from gallery.bulk import folder_import
from gallery.importing import quiet_task_logs
from gallery.models import Image


class Command(BaseCommand):
    help = (
        "Set up the offline demo: a user, and a gallery of synthetic scenes (shapes, colours, "
        "sizes, positions) indexed with CLIP_MODEL. Safe to run again."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--count", type=int, default=300, help="How many scenes.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", help="Default: a new random one, printed.")

    def handle(
        self, *args: Any, count: int, seed: int, username: str, password: str | None, **options: Any
    ) -> None:
        try:
            get_encoder()
        except EncoderUnavailable as exc:
            raise CommandError(exc.message) from exc
        user, password = self._demo_user(username, password)

        folder = settings.DATA_DIR / "demo-gallery" / f"seed-{seed}-{count}"
        if not (folder / "labels.jsonl").is_file():
            self.stdout.write(f"Generating {count} scenes in {folder}")
            write_labelled_folder(folder, generate_scenes(count, seed=seed), seed=seed)

        files = sorted(p for p in folder.iterdir() if p.suffix in {".png", ".jpg"})
        progress = tqdm(
            total=len(files), unit="img", desc="Indexing demo gallery", file=self.stderr._out
        )
        with quiet_task_logs(), progress as bar:
            try:
                summary = folder_import(
                    owner=user,
                    files=files,
                    visibility=Image.Visibility.PUBLIC,
                    progress=lambda s: bar.update(s.processed - bar.n),
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Demo gallery: {summary.indexed} indexed, {summary.skipped} already there, "
            f"{summary.failed} failed."
        )
        self.stdout.write(self.style.SUCCESS(f"Sign in as {username!r} with password {password!r}"))

    def _demo_user(self, username: str, password: str | None) -> tuple[Any, str]:
        password = password or secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        # A demo account: its password is reset (and printed) on every run.
        user.set_password(password)
        user.save()
        return user, password
