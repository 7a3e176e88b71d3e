from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from gallery.models import Image
from workers.encoder import EncoderUnavailable, get_encoder
from workers.reindexing import images_reindex
from workers.vectorstore import VectorStoreUnavailable


class Command(BaseCommand):
    help = (
        "Re-encode every image with CLIP_MODEL into its own collection. Search keeps using the "
        "current collection until this completes, then switches. Safe to interrupt and rerun."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=32)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        try:
            encoder = get_encoder()
            self.stdout.write(f"Encoding with {encoder.model_id} into {encoder.collection_name}")
            with tqdm(total=Image.objects.count(), unit="img", file=self.stderr._out) as bar:
                index, encoded, failed = images_reindex(batch_size=batch_size, progress=bar.update)
        except (EncoderUnavailable, VectorStoreUnavailable) as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Encoded {encoded}, failed {failed}.")
        if failed:
            self.stdout.write(
                self.style.WARNING(f"Search still reads the previous collection: {failed} failed.")
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Search now reads {index.collection}."))
