from __future__ import annotations

import json
from argparse import ArgumentParser
from functools import partial
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from PIL import Image as PILImage

from demo import Sample, evaluate, format_table, held_out_scenes, read_labelled_folder
from encoder.clip import EncoderUnavailable, get_encoder
from encoder.zeroshot import label_vectors


class Command(BaseCommand):
    help = (
        "Measure retrieval (Recall@1/5/10 both ways), zero-shot accuracy and attribute "
        "precision@k of CLIP_MODEL. By default on held-out synthetic scenes from both "
        "renderers; with --folder on any labelled folder (images + labels.jsonl)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--folder",
            type=Path,
            action="append",
            default=[],
            help="A labelled folder: images plus labels.jsonl lines "
            '{"file": ..., "caption": ..., "labels": {...}}. Repeat to compare folders.',
        )
        parser.add_argument("--repeats", type=int, default=2, help="Held-out sets per renderer.")
        parser.add_argument("--seed", type=int, default=1234)
        parser.add_argument(
            "--json", dest="json_path", type=Path, help="Also write the figures to this file."
        )

    def handle(
        self,
        *args: Any,
        folder: list[Path],
        repeats: int,
        seed: int,
        json_path: Path | None,
        **options: Any,
    ) -> None:
        try:
            encoder = get_encoder()
        except EncoderUnavailable as exc:
            raise CommandError(exc.message) from exc
        sets = {path.name or str(path): _folder_samples(path) for path in folder} or {
            "training renderer": _held_out("pil", seed, repeats),
            "other renderer": _held_out("numpy", seed, repeats),
        }
        # Zero-shot figures come from the product's own label vectors (its prompts,
        # its ensembling), so they measure the classifier that tags and classifies.
        product_labels = partial(label_vectors, encoder)
        results = {
            name: evaluate(
                encoder.encode_images, encoder.encode_texts, samples, label_vectors=product_labels
            )
            for name, samples in sets.items()
        }
        self.stdout.write(f"CLIP_MODEL: {encoder.model_id}")
        self.stdout.write(format_table(results))
        if json_path is not None:
            json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _held_out(renderer: str, seed: int, repeats: int) -> list[Sample]:
    # The other renderer also gets other resolutions than training used.
    sides = (64, 256) if renderer == "pil" else (40, 200)
    return [
        Sample(*item)
        for item in held_out_scenes(
            seed=seed, repeats=repeats, renderer=renderer, min_side=sides[0], max_side=sides[1]
        )
    ]


def _folder_samples(path: Path) -> list[Sample]:
    if not (path / "labels.jsonl").is_file():
        raise CommandError(f"{path} has no labels.jsonl (see demo/folders.py for the format).")
    try:
        items = read_labelled_folder(path)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    samples = []
    for item in items:
        try:
            with PILImage.open(path / item.file) as image:
                samples.append(Sample(image.convert("RGB"), item.caption, item.labels))
        except OSError as exc:
            raise CommandError(f"{path / item.file}: {exc}") from exc
    return samples
