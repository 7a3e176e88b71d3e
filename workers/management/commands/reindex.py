from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.progress import follow_progress
from encoder import EncoderUnavailable, get_encoder
from gallery.reindexing import (
    ReindexPlan,
    reindex_finish,
    reindex_progress,
    reindex_start,
    reindex_total,
)
from vectorstore import VectorStoreUnavailable


class Command(BaseCommand):
    help = (
        "Re-encode every image and video with CLIP_MODEL into its own collection. Search keeps "
        "using the current collection until this completes, then switches. With a broker the "
        "images and videos are queued for the workers and this waits for them. Safe to "
        "interrupt and rerun."
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
            # In pictures: an image, or a video's moment.
            with tqdm(total=reindex_total(), unit="img", file=self.stderr._out) as bar:
                plan = reindex_start(
                    batch_size=batch_size, in_process=in_process, progress=bar.update
                )
            if in_process:
                self.stdout.write(
                    f"Encoded {_count(plan.encoded, 'image')} and "
                    f"{_count(plan.videos_encoded, 'video')}, failed {plan.failed}."
                )
            else:
                self.stdout.write(
                    f"Queued {_count(plan.queued, 'image')} and "
                    f"{_count(plan.videos_queued, 'video')} for the workers."
                )
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
        follow_progress(
            lambda: reindex_progress(plan)[0],
            total=plan.total,
            stall_seconds=stall_seconds,
            desc="indexed",
            rerun="reindex",
            file=self.stderr._out,
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
