"""Decoding headroom, side by side in one run: what each choice costs in img/s and in fidelity.

`gallery.decoding` decodes a JPEG at a libjpeg scale (1/2, 1/4, 1/8) no
smaller than `DRAFT_HEADROOM` times the size needed, and box-reduces other
formats to no less than `REDUCE_HEADROOM` times it, before the model's exact
bicubic resize.  More headroom is closer to the reference (the file fully
decoded, then `CLIPProcessor`) and slower.  Each configuration `R:D`
(`REDUCE_HEADROOM:DRAFT_HEADROOM`) runs on the same generated files:

- throughput: the product's decode (`open_reduced`) plus the model's resize
  and crop (`ClipPreprocessor.resized`), one thread, for indexing (the
  model's own short side: 224 px for B/32, 80 for the demo model) and for
  upload validation (`DECODE_SHORT_SIDE` 336, `THUMBNAIL_SIZE` 384);
- fidelity: the cosine of each picture's vector to the reference's, for the
  demo model and ViT-B/32 shapes with random weights (centred: the mean
  vector over the files subtracted first, as tests/gallery/test_decode_parity.py
  does); the minimum over the kind's files and, for uploads, both models.

The first configuration is the baseline of the ratios; `old` is the decode
as it was before this benchmark (2:1, and the resize computed from the
reduced picture's own rounded size instead of the original's geometry).

    python -m bench.decode [--configs old,2:1,2:1.5,2:2,4:2] [--repeats 3] [--scale 1]

Prints a table and writes bench/results/decode.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "decode.json"
UPLOAD_SHORT_SIDE, UPLOAD_LONG_SIDE = 336, 384


@dataclass(frozen=True)
class Config:
    """One way of decoding: the two headrooms, and whether the original's geometry is kept."""

    label: str
    reduce_headroom: float
    draft_headroom: float
    geometry: bool = True

    @classmethod
    def parse(cls, text: str) -> Config:
        if text == "old":
            return cls("old 2:1", 2, 1, geometry=False)
        reduce, draft = (float(part) for part in text.split(":"))
        return cls(f"{reduce:g}:{draft:g}", reduce, draft)


def scene(size: tuple[int, int], seed: int) -> Any:
    """A photo-like picture: a smooth field, grain, sharp shapes and text-like strokes."""
    from PIL import Image, ImageDraw

    width, height = size
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    pixels = np.asarray(low.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    pixels = pixels + rng.integers(-10, 11, (height, width, 1), dtype=np.int16)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 12, height // 8, 2 * width // 5, 3 * height // 5), fill=(220, 30, 30))
    draw.rectangle((width // 2, height // 2, 9 * width // 10, 7 * height // 8), fill=(20, 40, 200))
    stroke = max(1, height // 150)
    for row in range(6):
        y = (66 + row * 5) * height // 100
        for column in range(10):
            x = (6 + column * 4) * width // 100
            draw.rectangle((x, y, x + width // 40, y + stroke), fill=(15, 15, 15))
    return image


def screenshot(size: tuple[int, int]) -> Any:
    """A 64-colour palette screenshot with one- and two-pixel strokes."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, height // 14), fill=(40, 44, 52))
    draw.rectangle((width // 3, height // 5, 2 * width // 3, height // 2), fill=(66, 133, 244))
    for line in range(40):
        y = height // 8 + line * (height // 48)
        for word in range(8):
            x = width // 4 + word * width // 14
            draw.rectangle((x, y, x + width // 20, y + max(1, height // 900)), fill=(30, 30, 30))
    return image.quantize(64)


def with_alpha(image: Any) -> Any:
    """A soft-edged cut-out with a half-transparent band and noise under the transparency."""
    from PIL import Image

    width, height = image.size
    y, x = np.mgrid[0:height, 0:width]
    distance = np.hypot((x - width / 2) / (0.42 * width), (y - height / 2) / (0.4 * height))
    alpha = np.clip((1.0 - distance) * 12, 0, 1) * 255
    alpha[(y > 0.7 * height) & (alpha > 0)] = 128
    rgb = np.asarray(image.convert("RGB")).copy()
    rgb[alpha == 0] = np.random.default_rng(1).integers(0, 256, rgb.shape, np.uint8)[alpha == 0]
    return Image.fromarray(np.dstack([rgb, alpha.astype(np.uint8)]), "RGBA")


def save(image: Any, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def grey_16_bit(size: tuple[int, int], seed: int) -> bytes:
    from PIL import Image

    pixels = np.asarray(scene(size, seed).convert("L"), dtype=np.uint16) * 257
    return save(Image.fromarray(pixels), "PNG", compress_level=1)


KINDS: dict[str, tuple[int, Callable[[int], bytes]]] = {
    # kind: (files at --scale 1, build one from a seed)
    "12 MP JPEG": (4, lambda s: save(scene((4000, 3000), s), "JPEG", quality=90)),
    "640x480 JPEG": (16, lambda s: save(scene((640, 480), s), "JPEG", quality=90)),
    "3000x2000 progressive JPEG": (
        4,
        lambda s: save(scene((3000, 2000), s), "JPEG", quality=88, progressive=True),
    ),
    "12 MP PNG": (2, lambda s: save(scene((4000, 3000), s), "PNG", compress_level=1)),
    "2880x1800 palette PNG": (2, lambda s: save(screenshot((2880, 1800)), "PNG")),
    "2000x1500 grey PNG": (
        3,
        lambda s: save(scene((2000, 1500), s).convert("L"), "PNG", compress_level=1),
    ),
    "2000x1500 WebP": (3, lambda s: save(scene((2000, 1500), s), "WEBP", quality=90)),
    "2000x1500 RGBA PNG": (
        2,
        lambda s: save(with_alpha(scene((2000, 1500), s)), "PNG", compress_level=1),
    ),
    "2400x1800 16-bit grey PNG": (2, lambda s: grey_16_bit((2400, 1800), s)),
}


def reference_picture(data: bytes) -> Any:
    """The whole file decoded, 16-bit scaled to 8, composited onto white (transformers' way)."""
    from PIL import Image, ImageOps
    from transformers.image_transforms import convert_to_rgb

    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode.startswith("I"):
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.rint(values * 255 / 65535).astype(np.uint8), "L")
    return Image.fromarray(np.asarray(convert_to_rgb(image, return_numpy=True)))


def save_b32(folder: Path) -> Path:
    """ViT-B/32 shapes (`CLIPConfig()`) with random weights and its real image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


class Model:
    """A model for fidelity: the reference's processor and forward, our preprocessing."""

    def __init__(self, path: Path, *, centred: bool) -> None:
        from transformers import AutoImageProcessor, CLIPModel

        from encoder.preprocess import ClipPreprocessor

        self.processor = AutoImageProcessor.from_pretrained(path)
        self.model = CLIPModel.from_pretrained(path).eval()
        self.preprocessor = ClipPreprocessor.from_processor(self.processor)
        self.short_side = min(self.preprocessor.output_size)
        self.centred = centred
        self.centre: np.ndarray | None = None

    def forward(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            output = self.model.get_image_features(pixel_values=torch.from_numpy(pixels))
        features = output if isinstance(output, torch.Tensor) else output.pooler_output
        vectors = features.numpy().astype(np.float64)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def reference(self, pictures: list[Any]) -> np.ndarray:
        pixels = self.processor(images=pictures, return_tensors="np")["pixel_values"]
        return self.forward(np.asarray(pixels, dtype=np.float32))

    def ours(self, pictures: list[Any]) -> np.ndarray:
        return self.forward(self.preprocessor(pictures))

    def cosines(self, ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
        if self.centre is not None:
            ours, reference = ours - self.centre, reference - self.centre
        dot = (ours * reference).sum(axis=1)
        return dot / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))


def decode(data: bytes, config: Config, *, short_side: int, long_side: int = 0) -> Any:
    from gallery.decoding import open_reduced

    picture = open_reduced(
        io.BytesIO(data),
        short_side=short_side,
        long_side=long_side,
        reduce_headroom=config.reduce_headroom,
        draft_headroom=config.draft_headroom,
    )
    if not config.geometry:
        picture.info.clear()  # the resize then sees only the reduced size, as it used to
    return picture


def throughput(
    files: list[bytes], config: Config, preprocessor: Any, *, short_side: int, long_side: int
) -> float:
    """Files decoded and resized for the model per second, in this thread."""
    started = time.perf_counter()
    for data in files:
        preprocessor.resized(decode(data, config, short_side=short_side, long_side=long_side))
    return len(files) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--configs",
        default="old,2:1,2:1.5,2:2,4:2",
        help="comma-separated REDUCE:DRAFT headrooms, or old; the first is the ratios' baseline",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the median is kept")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the files per kind")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    os.environ.setdefault("CLIPSEARCH_DEV", "1")
    import django

    django.setup()  # gallery's package imports the app's models
    measure([Config.parse(text) for text in args.configs.split(",")], args.repeats, args.scale)


def measure(configs: list[Config], repeats: int, scale: float) -> None:
    print("generating files and the B/32 model ...", flush=True)
    files = {
        kind: [build(seed) for seed in range(max(1, round(count * scale)))]
        for kind, (count, build) in KINDS.items()
    }
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        models = {
            "B/32": Model(save_b32(Path(tmp) / "b32"), centred=True),
            "demo": Model(ROOT / "models" / "demo-clip-shapes", centred=False),
        }
    references = {
        kind: [reference_picture(data) for data in items] for kind, items in files.items()
    }
    reference_vectors = {
        name: {kind: model.reference(pictures) for kind, pictures in references.items()}
        for name, model in models.items()
    }
    for name, model in models.items():
        if model.centred:
            model.centre = np.concatenate(list(reference_vectors[name].values())).mean(axis=0)

    paths: dict[str, tuple[list[str], int, int]] = {
        **{f"index {name}": ([name], model.short_side, 0) for name, model in models.items()},
        "upload": (list(models), UPLOAD_SHORT_SIDE, UPLOAD_LONG_SIDE),
    }
    rows: list[dict[str, Any]] = []
    for kind, items in files.items():
        for path, (names, short_side, long_side) in paths.items():
            preprocessor = models[names[0]].preprocessor
            timings: dict[str, list[float]] = {config.label: [] for config in configs}
            for _ in range(repeats):  # interleaved, so drift on shared cores hits every config
                for config in configs:
                    timings[config.label].append(
                        throughput(
                            items,
                            config,
                            preprocessor,
                            short_side=short_side,
                            long_side=long_side,
                        )
                    )
            row: dict[str, Any] = {"kind": kind, "path": path, "files": len(items)}
            for config in configs:
                pictures = [
                    decode(data, config, short_side=short_side, long_side=long_side)
                    for data in items
                ]
                cosine = min(
                    float(
                        models[name]
                        .cosines(models[name].ours(pictures), reference_vectors[name][kind])
                        .min()
                    )
                    for name in names
                )
                row[config.label] = {
                    "img_s": statistics.median(timings[config.label]),
                    "min_cosine": cosine,
                }
            rows.append(row)
            print(format_row(row, configs), flush=True)

    baseline = configs[0].label
    print()
    print(header(configs))
    for row in rows:
        print(format_row(row, configs))
    worst = {
        config.label: min(row[config.label]["min_cosine"] for row in rows) for config in configs
    }
    print("min cosine over every kind and path:", {k: round(v, 5) for k, v in worst.items()})
    report = {
        "configs": [config.__dict__ for config in configs],
        "baseline": baseline,
        "cpu_count": os.cpu_count(),
        "repeats": repeats,
        "rows": rows,
        "min_cosine": worst,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def header(configs: list[Config]) -> str:
    columns = "".join(f" {config.label + ' img/s':>14s}" for config in configs)
    ratios = "".join(f" {'/' + configs[0].label:>9s}" for _ in configs[1:])
    cosines = "".join(f" {'cos ' + config.label:>11s}" for config in configs)
    return f"{'kind':27s} {'path':11s}{columns}{ratios}{cosines}"


def format_row(row: dict[str, Any], configs: list[Config]) -> str:
    base = row[configs[0].label]["img_s"]
    rates = "".join(f" {row[c.label]['img_s']:14.1f}" for c in configs)
    ratios = "".join(f" {row[c.label]['img_s'] / base:8.2f}x" for c in configs[1:])
    cosines = "".join(f" {row[c.label]['min_cosine']:11.5f}" for c in configs)
    return f"{row['kind']:27s} {row['path']:11s}{rates}{ratios}{cosines}"


if __name__ == "__main__":
    main()
