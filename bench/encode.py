"""Indexing throughput, side by side in one run: the naive loop, our pipeline, the bare model.

ViT-B/32 shapes (`CLIPModel(CLIPConfig())` has exactly the shapes of
openai/clip-vit-base-patch32; timing does not depend on the weights), saved
with a real CLIP processor and loaded through the product's `ClipEncoder`.
Generated photos: 4000x3000 JPEGs (12 MP) and 640x480 JPEGs.

1. naive: the design document's loop, one file at a time: `Image.open`,
   `CLIPProcessor`, fp32 `get_image_features`, one upsert each;
2. pipeline: `encoder.pipeline.encode_stream` as indexing runs it, from files
   on disk to vectors in the embedded store (draft decode, our preprocessing
   in a thread, batched forward at the default precision, batched upserts);
3. forward: the bare model forward at the same precision and batch size (the
   ceiling), and fp32/bf16/int8 for comparison, with each mode's cosine to fp32;
4. text query latency, p50 and p99: padded to 77 tokens versus trimmed.

    python -m bench.encode [--large 24] [--small 96] [--batch 16] [--precision bf16]

Prints a table and writes bench/results/encode.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "encode.json"
QUERIES = [
    "a dog on the beach",
    "two people hiking in the mountains at sunset",
    "red car",
    "a plate of pasta with basil on a wooden table",
    "snow",
    "children playing football in a park on a sunny afternoon",
]


def make_photos(folder: Path, count: int, size: tuple[int, int], seed: int) -> list[Path]:
    """Photo-like JPEGs: smooth colour fields with fine grain, at quality 90."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    width, height = size
    for index in range(count):
        low = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8))
        field = np.asarray(low.resize((width, height), Image.Resampling.BICUBIC), np.int16)
        grain = rng.integers(-12, 12, (height, width, 1), dtype=np.int16)
        pixels = np.clip(field + grain, 0, 255).astype(np.uint8)
        path = folder / f"photo-{index:04d}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def save_b32(folder: Path) -> Path:
    """A ViT-B/32-shaped CLIP with the real CLIP tokenizer and image processor, on disk."""
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
    )

    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(ROOT / "models" / "clip-tiny-random")
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(folder)
    return folder


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def naive_loop(model: Any, processor: Any, paths: list[Path], store: Any, collection: str) -> float:
    """The design document's loop; returns images/s."""
    import torch
    from PIL import Image

    from vectorstore import VectorPoint

    def run() -> None:
        for path in paths:
            image = Image.open(path)
            inputs = processor(images=image, return_tensors="pt")
            with torch.no_grad():
                output = model.get_image_features(**inputs)
            vector = output.pooler_output.numpy().flatten()
            vector /= np.linalg.norm(vector)
            store.upsert(collection, [VectorPoint(id=uuid.uuid4(), vector=vector, payload={})])

    return rate(len(paths), timed(run))


def pipeline(
    encoder: Any, paths: list[Path], store: Any, collection: str, batch: int, workers: int
) -> float:
    """Files on disk to vectors in the store, as indexing runs; returns images/s."""
    from encoder.pipeline import encode_stream
    from gallery.decoding import open_reduced
    from gallery.indexing import decode_short_side
    from vectorstore import VectorPoint

    short_side = decode_short_side(encoder)

    def prepare(path: Path) -> Any:
        return encoder.prepare(open_reduced(path, short_side=short_side))

    def run() -> None:
        for done in encode_stream(
            paths,
            prepare=prepare,
            encode=encoder.encode_prepared,
            batch_size=batch,
            workers=workers,
        ):
            store.upsert(
                collection,
                [VectorPoint(id=uuid.uuid4(), vector=v, payload={}) for v in done.vectors],
            )

    return rate(len(paths), timed(run))


def forward(encoder: Any, pixels: np.ndarray, batch: int, seconds: float) -> float:
    """Bare image forward at `batch`; returns images/s."""
    chunk = pixels[:batch]
    encoder.encode_pixels(chunk)  # warm
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        encoder.encode_pixels(chunk)
        count += len(chunk)
    return rate(count, time.perf_counter() - started)


def text_latency(encoder: Any, padded: bool, repeats: int) -> list[float]:
    """Milliseconds per single query, tokenising included."""
    import torch

    times = []
    for index in range(repeats):
        query = QUERIES[index % len(QUERIES)]
        started = time.perf_counter()
        if padded:
            inputs = encoder.processor(
                text=[query], return_tensors="pt", padding="max_length", max_length=77
            )
            with torch.inference_mode():
                encoder.model.get_text_features(
                    input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                )
        else:
            encoder.encode_texts([query])
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", type=int, default=24, help="12 MP JPEGs to generate")
    parser.add_argument("--small", type=int, default=96, help="640x480 JPEGs to generate")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0, help="per forward measurement")
    parser.add_argument("--text-repeats", type=int, default=200)
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8"),
        help="the pipelines', their bare forward's and the trimmed text's (default: auto's pick)",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    os.environ.setdefault("CLIPSEARCH_DEV", "1")
    import django

    django.setup()
    from encoder.clip import in_model_thread

    # The naive loop and the bare text forwards use torch directly: on the
    # encoder's thread they run as the product's forwards do (a second torch
    # thread would slow every forward, both sides of each ratio included).
    in_model_thread(lambda: measure(args))


def measure(args: argparse.Namespace) -> None:
    import torch
    from django.conf import settings

    from encoder.clip import ClipEncoder, configure_threads
    from vectorstore import EdgeStore

    threads = configure_threads(settings.CLIP_THREADS)
    workers = settings.INDEX_DECODE_THREADS
    report: dict[str, Any] = {
        "model": "ViT-B/32 shapes (CLIPConfig())",
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "decode_threads": workers,
        "batch": args.batch,
    }
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        tmp_path = Path(tmp)
        print("generating photos and the B/32 model ...", flush=True)
        large = make_photos(tmp_path / "large", args.large, (4000, 3000), seed=1)
        small = make_photos(tmp_path / "small", args.small, (640, 480), seed=2)
        model_dir = save_b32(tmp_path / "b32")
        # What `auto` picks here, from its own calibration (no cache file).
        auto = ClipEncoder(str(model_dir), device="cpu", precision="auto")
        choice = auto.calibration
        if choice is None:
            raise SystemExit("precision='auto' loaded without a calibration")
        default_precision = auto.precision
        print("auto:", choice.summary(), flush=True)
        report["default_precision"] = default_precision
        report["auto"] = {
            "picked": default_precision,
            "summary": choice.summary(),
            "trials": [{**vars(trial), "refused": trial.refused} for trial in choice.trials],
        }
        del auto
        encoders = {
            precision: ClipEncoder(str(model_dir), device="cpu", precision=precision)
            for precision in ("fp32", "bf16", "int8")
        }
        pipeline_precision = args.precision or default_precision
        report["pipeline_precision"] = pipeline_precision
        encoder = encoders[pipeline_precision]
        store = EdgeStore(str(tmp_path / "store"))
        store.ensure_collection("bench", 512)

        from PIL import Image

        sample = [Image.open(p).convert("RGB") for p in small[: args.batch]]
        pixels = encoders["fp32"].pixel_values(sample)
        reference = encoders["fp32"].encode_pixels(pixels)
        cosines = {
            precision: float((reference * each.encode_pixels(pixels)).sum(1).min())
            for precision, each in encoders.items()
        }
        # The same image alone and in its batch of `args.batch`.
        batch_independence: dict[str, float] = {}
        for precision, each in encoders.items():
            batched = each.encode_pixels(pixels)[:4]
            alone = np.concatenate([each.encode_pixels(pixels[i : i + 1]) for i in range(4)])
            batch_independence[precision] = float((batched * alone).sum(1).min())
        forward_ips = {
            precision: forward(each, pixels, args.batch, args.seconds)
            for precision, each in encoders.items()
        }
        print("forward:", {k: round(v, 1) for k, v in forward_ips.items()}, flush=True)

        naive_processor = encoders["fp32"].processor
        naive = naive_loop(
            encoders["fp32"].model,
            naive_processor,
            large[: max(6, args.large // 3)],
            store,
            "bench",
        )
        print(f"naive 12 MP: {naive:.2f} img/s", flush=True)
        large_rates = {
            str(w): pipeline(encoder, large, store, "bench", args.batch, w) for w in (1, 2)
        }
        print("pipeline 12 MP by decode threads:", large_rates, flush=True)
        small_rates = {
            str(w): pipeline(encoder, small, store, "bench", args.batch, w) for w in (1, 2)
        }
        print("pipeline 640x480 by decode threads:", small_rates, flush=True)
        # The bare forward again, right after, so both sides see the same machine state.
        small_forward = forward(encoder, pixels, args.batch, args.seconds)

        padded = text_latency(encoders["fp32"], padded=True, repeats=args.text_repeats)
        trimmed = text_latency(encoder, padded=False, repeats=args.text_repeats)
        store.close()

    pipeline_ips = large_rates[str(workers)]
    small_pipeline_ips = small_rates[str(workers)]
    report.update(
        {
            "naive_ips": naive,
            "pipeline_ips": pipeline_ips,
            "pipeline_ips_by_decode_threads": large_rates,
            "small_pipeline_ips": small_pipeline_ips,
            "small_pipeline_ips_by_decode_threads": small_rates,
            "small_forward_ips": small_forward,
            "forward_ips": forward_ips[default_precision],
            "fp32_forward_ips": forward_ips["fp32"],
            "bf16_forward_ips": forward_ips["bf16"],
            "int8_forward_ips": forward_ips["int8"],
            "cosine_to_fp32_min": cosines,
            "alone_vs_batched_min": batch_independence,
            "text_p50_ms": statistics.median(trimmed),
            "text_p99_ms": percentile(trimmed, 99),
            "text_padded77_p50_ms": statistics.median(padded),
            "text_padded77_p99_ms": percentile(padded, 99),
            "ratios": {
                "pipeline_vs_naive_12mp": pipeline_ips / naive,
                "small_pipeline_vs_forward": small_pipeline_ips / small_forward,
                "default_vs_fp32_forward": forward_ips[default_precision] / forward_ips["fp32"],
            },
            "torch": torch.__version__,
        }
    )
    print()
    print(f"{'measure':44s} {'value':>10s}")
    rows = [
        ("naive loop, 12 MP (img/s)", naive),
        (f"pipeline, 12 MP, {pipeline_precision} (img/s)", pipeline_ips),
        ("pipeline, 640x480 (img/s)", small_pipeline_ips),
        (f"bare forward, {pipeline_precision}, batch {args.batch} (img/s)", small_forward),
        ("forward fp32 (img/s)", forward_ips["fp32"]),
        ("forward bf16 (img/s)", forward_ips["bf16"]),
        ("forward int8 (img/s)", forward_ips["int8"]),
        ("text p50, trimmed (ms)", report["text_p50_ms"]),
        ("text p99, trimmed (ms)", report["text_p99_ms"]),
        ("text p50, padded to 77 (ms)", report["text_padded77_p50_ms"]),
        ("text p99, padded to 77 (ms)", report["text_padded77_p99_ms"]),
    ]
    for label, value in rows:
        print(f"{label:44s} {value:10.2f}")
    for label, value in report["ratios"].items():
        print(f"{label:44s} {value:9.2f}x")
    print("min cosine to fp32:", {k: round(v, 5) for k, v in cosines.items()})
    print("min cosine alone vs batched:", {k: round(v, 6) for k, v in batch_independence.items()})
    print("auto:", report["auto"]["summary"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
