from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.iterables import batched
from core.progress import follow_progress
from gallery.backfill import backfill_enqueue, backfill_pending, images_backfill_text
from gallery.ocr import ocr_enabled, ocr_unavailable_reason
from vectorstore import VectorStoreUnavailable


class Command(BaseCommand):
    help = (
        "Give images indexed before text search their text side: the text recognised in "
        "them, camera and place from their EXIF, and the lexical vector in every collection. "
        "With a broker the batches go to the workers and this follows their progress. "
        "Safe to interrupt and rerun: done images are skipped."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument(
            "--in-process", action="store_true", help="Work here, even with a broker."
        )
        parser.add_argument(
            "--without-ocr",
            action="store_true",
            help="Rebuild metadata and words but recognise no text (where Tesseract is "
            "missing); a later run with it recognises them.",
        )
        parser.add_argument(
            "--stall-minutes",
            type=float,
            default=10.0,
            help="Stop waiting for the workers after this long without progress.",
        )

    def handle(
        self,
        *args: Any,
        batch_size: int,
        in_process: bool,
        without_ocr: bool,
        stall_minutes: float,
        **options: Any,
    ) -> None:
        recognise = not without_ocr
        if recognise and not ocr_enabled():
            reason = ocr_unavailable_reason() or "OCR_ENABLED is off"
            raise CommandError(
                f"Text recognition cannot run here ({reason}). Install it, or pass "
                "--without-ocr to backfill metadata and words alone."
            )
        in_process = in_process or settings.CELERY_TASK_ALWAYS_EAGER
        pending = backfill_pending()
        total = pending.count()
        ids = [str(pk) for pk in pending.order_by("pk").values_list("pk", flat=True)]
        try:
            with tqdm(total=total, unit="img", file=self.stderr._out) as bar:
                for batch in batched(ids, batch_size):
                    if in_process:
                        images_backfill_text(image_ids=batch, recognise_text=recognise)
                    else:
                        backfill_enqueue(batch, recognise_text=recognise)
                    bar.update(len(batch))
        except VectorStoreUnavailable as exc:
            raise CommandError(f"{exc.message} Run backfill_text again to resume.") from exc
        if in_process:
            left = backfill_pending().count() if recognise else 0
            self.stdout.write(self.style.SUCCESS(f"Backfilled {total - left} of {total} images."))
            return
        self.stdout.write(f"Queued {total} images for the workers.")
        if recognise:
            self._wait(total, stall_seconds=stall_minutes * 60)

    def _wait(self, total: int, *, stall_seconds: float) -> None:
        """Follow the workers' progress in the rows until nothing is left or it stalls."""
        follow_progress(
            lambda: backfill_pending().count(),
            total=total,
            stall_seconds=stall_seconds,
            desc="recognised",
            rerun="backfill_text",
            file=self.stderr._out,
        )
        self.stdout.write(self.style.SUCCESS(f"Backfilled {total} images."))
