from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from encoder import EncoderUnavailable, get_encoder
from gallery.indexing import ReindexPlan, images_reindex, reindex_finish, reindex_progress
from gallery.models import Image
from vectorstore import VectorStoreUnavailable


class Command(BaseCommand):
    help = (
        "Re-encode every image with CLIP_MODEL into its own collection. Search keeps using the "
        "current collection until this completes, then switches. With a broker the images are "
        "queued for the workers and this waits for them. Safe to interrupt and rerun."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Encode here, even when a broker is configured.",
        )
        parser.add_argument(
            "--stall-minutes",
            type=float,
            default=10.0,
            help="Stop waiting for the workers after this long without progress.",
        )

    def handle(
        self, *args: Any, batch_size: int, in_process: bool, stall_minutes: float, **options: Any
    ) -> None:
        in_process = in_process or settings.CELERY_TASK_ALWAYS_EAGER
        try:
            encoder = get_encoder()
            self.stdout.write(f"Encoding with {encoder.model_id} into {encoder.collection_name}")
            with tqdm(total=Image.objects.count(), unit="img", file=self.stderr._out) as bar:
                plan = images_reindex(
                    batch_size=batch_size, in_process=in_process, progress=bar.update
                )
            if in_process:
                self.stdout.write(f"Encoded {plan.encoded}, failed {plan.failed}.")
            else:
                self.stdout.write(f"Queued {plan.queued} images for the workers.")
                self._wait(plan, stall_seconds=stall_minutes * 60)
                reindex_finish(plan)
        except (EncoderUnavailable, VectorStoreUnavailable) as exc:
            raise CommandError(exc.message) from exc
        plan.index.refresh_from_db()
        if plan.index.state == plan.index.State.ACTIVE:
            self.stdout.write(self.style.SUCCESS(f"Search now reads {plan.index.collection}."))
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Search still reads the previous collection: {plan.failed} failed. "
                    "Fix or delete them, then run reindex again."
                )
            )

    def _wait(self, plan: ReindexPlan, *, stall_seconds: float) -> None:
        """Follow the workers' progress in the rows until nothing is left or it stalls."""
        waiting, _ = reindex_progress(plan)
        last_change = time.monotonic()
        with tqdm(total=plan.total, unit="img", desc="indexed", file=self.stderr._out) as bar:
            while waiting:
                bar.n = plan.total - waiting
                bar.refresh()
                time.sleep(1)
                now, _ = reindex_progress(plan)
                if now != waiting:
                    waiting, last_change = now, time.monotonic()
                elif time.monotonic() - last_change > stall_seconds:
                    raise CommandError(
                        f"No progress for {stall_seconds / 60:.0f} minutes with {waiting} images "
                        "left: are the workers running? Run reindex again to resume."
                    )
            bar.n = plan.total
            bar.refresh()
