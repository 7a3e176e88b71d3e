from __future__ import annotations

import secrets
from argparse import ArgumentParser, BooleanOptionalAction
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ApplicationError
from demo import SIGN_WORDS, generate_scenes, sign_scenes, write_labelled_folder
from encoder.clip import EncoderUnavailable, get_encoder
from gallery.bulk import folder_import
from gallery.importing import quiet_task_logs
from gallery.models import Image
from gallery.ocr import ocr_enabled, ocr_unavailable_reason


class Command(BaseCommand):
    help = (
        "Set up the offline demo: a user, and a gallery of synthetic scenes (shapes, colours, "
        "sizes, positions, and a few signs with words on them, found by text search) indexed "
        "with CLIP_MODEL. Safe to run again."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--count", type=int, default=300, help="How many scenes.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--signs",
            action=BooleanOptionalAction,
            default=True,
            help=f"Add one sign scene per word ({', '.join(SIGN_WORDS)}) after the scenes.",
        )
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", help="Default: a new random one, printed.")

    def handle(
        self,
        *args: Any,
        count: int,
        seed: int,
        signs: bool,
        username: str,
        password: str | None,
        **options: Any,
    ) -> None:
        try:
            get_encoder()
        except EncoderUnavailable as exc:
            raise CommandError(exc.message) from exc
        user, password = self._demo_user(username, password)

        name = f"seed-{seed}-{count}" + ("-signs" if signs else "")
        folder = settings.DATA_DIR / "demo-gallery" / name
        if not (folder / "labels.jsonl").is_file():
            self.stdout.write(
                f"Generating {count} scenes{' and signs' if signs else ''} in {folder}"
            )
            # The signs come last, from their own random stream: the scenes
            # (and their file names) are the same with or without them.
            samples = generate_scenes(count, seed=seed) + (sign_scenes(seed=seed) if signs else [])
            write_labelled_folder(folder, samples, seed=seed)

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
        self._warn_without_ocr()
        self.stdout.write(self.style.SUCCESS(f"Sign in as {username!r} with password {password!r}"))

    def _warn_without_ocr(self) -> None:
        if not ocr_enabled():
            reason = ocr_unavailable_reason() or "OCR_ENABLED is off"
            self.stdout.write(
                self.style.WARNING(
                    f"Text recognition is off here ({reason}): the signs are not found by "
                    "their words."
                )
            )

    def _demo_user(self, username: str, password: str | None) -> tuple[Any, str]:
        password = password or secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        # A demo account: its password is reset (and printed) on every run.
        user.set_password(password)
        user.save()
        return user, password
