"""Text recognition engines side by side in one run: word recall, precision and ms per image.

One generated corpus, rendered with Pillow in DejaVu and Liberation fonts at
4000x3000 (12 MP) and at 1920x1080, in five conditions:

- `plain`: dark lines of words on a light flat ground, at three sizes (1.5 %,
  2.5 % and 4 % of the short side);
- `rotated`: the same, turned by up to 10 degrees either way;
- `photo`: light or dark words on noise, gradients and blurred blobs;
- `screenshot`: UI-like text (a title bar, a menu, buttons, body text at
  1.2 to 2 % of the short side);
- `notext`: a photo-like picture with no text, for the false words and the
  cost of a picture that has none.

Each configuration is `ENGINE:MAX_SIDE` (the picture is downscaled to that
long side before the engine sees it; `0` keeps it whole):

- `product`: `gallery.ocr.recognise` as the workers call it: Tesseract 5 in
  process through tesserocr, sparse-text page segmentation, the layout
  looked at first (no text line, no recognition), `OCR_TIME_LIMIT`, words
  below `MIN_CONFIDENCE` (80) dropped; without MAX_SIDE, `OCR_MAX_SIDE`;
- `tesseract`: the same engine as commonly called (no layout check, no time
  limit, words below confidence 50 dropped);
- `rapidocr`: RapidOCR's PP-OCRv4 detector, direction classifier and
  recogniser on onnxruntime (the ONNX models in the `rapidocr_onnxruntime`
  wheel), lines below score 0.5 dropped. Not a dependency of the project:
  `.venv/bin/pip install rapidocr_onnxruntime` for this comparison.

Every engine runs on one thread (OMP_THREAD_LIMIT=1, onnxruntime with one
intra-op thread), as each of the workers' decode threads would. A word counts
as recognised when its lower-cased letters and digits equal a drawn word's
(each drawn word matched once); recall is over the drawn words, precision over
the words returned. The time includes the downscale from the full picture.

    python -m bench.ocr [--configs product,product:1280,product:2048,product:0,tesseract:1600,
                                   rapidocr:1600] [--n 2] [--resolutions 12mp,1080p]

Prints one table per resolution, the ratios to the first configuration, and
writes bench/results/ocr.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Before any engine loads: OpenMP in Tesseract would otherwise take every core.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ocr.json"
FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
]
_WORD_TEXT = (
    "market street coffee open daily station north river garden hotel bakery museum "
    "ticket platform exit entrance welcome sale price fresh bread cheese summer winter "
    "holiday parking private office library school church bridge harbour airport "
    "train ferry bus taxi police pharmacy doctor dentist closed monday friday sunday "
    "january march april october december birthday wedding party music festival "
    "concert theatre cinema gallery picture camera window door kitchen table chair "
    "orange yellow purple silver golden green blue black white river mountain forest "
    "lake island village castle tower palace square avenue road lane corner central "
    "breakfast lunch dinner menu wine beer water juice salad pizza pasta burger soup "
    "settings account profile search upload download delete cancel save share export "
    "import folder images albums recent favourites help about login logout password "
    "Berlin London Paris Vienna Munich Hamburg Zurich Madrid Lisbon Dublin"
)
WORDS = tuple(_WORD_TEXT.split())
CONDITIONS = ("plain", "rotated", "photo", "screenshot", "notext")
RESOLUTIONS = {"12mp": (4000, 3000), "1080p": (1920, 1080)}
_TOKEN = re.compile(r"[^0-9a-zäöüß]+")


@dataclass(frozen=True)
class Sample:
    condition: str
    resolution: str
    picture: Image.Image
    words: tuple[str, ...]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--configs",
        default="product,product:1280,product:2048,product:0,tesseract:1600,rapidocr:1600",
    )
    parser.add_argument("--n", type=int, default=2, help="pictures per condition and resolution")
    parser.add_argument("--resolutions", default="12mp,1080p")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    os.environ.setdefault("CLIPSEARCH_DEV", "1")
    import django

    django.setup()

    configs = args.configs.split(",")
    engines = {config: make_engine(config) for config in configs}
    samples = list(corpus(args.n, args.resolutions.split(","), args.seed))
    print(f"{len(samples)} pictures; warming up {', '.join(configs)}", flush=True)
    for engine in engines.values():
        engine(samples[0].picture.resize((640, 480)))

    # Interleaved: each picture goes through every engine before the next picture,
    # so that the shared cores' drift falls on all of them alike.
    results: dict[str, list[dict[str, Any]]] = {config: [] for config in configs}
    for index, sample in enumerate(samples):
        for config, engine in engines.items():
            started = time.perf_counter()
            found = engine(sample.picture)
            elapsed = (time.perf_counter() - started) * 1000
            matched = matches(sample.words, found)
            results[config].append(
                {
                    "condition": sample.condition,
                    "resolution": sample.resolution,
                    "drawn": len(sample.words),
                    "found": len(found),
                    "matched": matched,
                    "ms": elapsed,
                }
            )
        print(f"  {index + 1}/{len(samples)} {sample.resolution} {sample.condition}", flush=True)

    rows = summarise(results, args.resolutions.split(","))
    report(rows, configs)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"n": args.n, "rows": rows}, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


# -- engines -------------------------------------------------------------------------


def make_engine(config: str) -> Callable[[Image.Image], list[str]]:
    """The words an engine finds in a picture, for `ENGINE[:MAX_SIDE]`."""
    name, _, side_text = config.partition(":")
    max_side = int(side_text) if side_text else None
    if name == "tesseract":
        return tesseract_engine(max_side or 0)
    if name == "rapidocr":
        return rapidocr_engine(max_side or 0)
    if name == "product":
        return product_engine(max_side)
    raise SystemExit(f"unknown engine {name!r} in {config!r}")


def downscaled(picture: Image.Image, max_side: int) -> Image.Image:
    if max_side <= 0 or max(picture.size) <= max_side:
        return picture
    scale = max_side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def tesseract_engine(max_side: int) -> Callable[[Image.Image], list[str]]:
    import tesserocr

    from gallery.ocr import tessdata_path

    api = tesserocr.PyTessBaseAPI(
        path=tessdata_path() or "", lang="eng", psm=tesserocr.PSM.SPARSE_TEXT
    )

    def run(picture: Image.Image) -> list[str]:
        api.SetImage(downscaled(picture, max_side).convert("L"))
        api.Recognize()
        words: list[str] = []
        iterator = api.GetIterator()
        level = tesserocr.RIL.WORD
        for word in tesserocr.iterate_level(iterator, level):
            text = word.GetUTF8Text(level)
            if text and word.Confidence(level) >= 50:
                words.append(text)
        return words

    return run


def rapidocr_engine(max_side: int) -> Callable[[Image.Image], list[str]]:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise SystemExit("rapidocr: pip install rapidocr_onnxruntime (or leave it out)") from None

    side = max_side or 100_000
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, max_side_len=side)

    def run(picture: Image.Image) -> list[str]:
        # RapidOCR reads arrays as OpenCV's BGR.
        array = np.asarray(downscaled(picture, max_side).convert("RGB"))[:, :, ::-1]
        result, _ = engine(np.ascontiguousarray(array))
        return [word for _, text, score in result or [] if score >= 0.5 for word in text.split()]

    return run


def product_engine(max_side: int | None) -> Callable[[Image.Image], list[str]]:
    from django.conf import settings

    from gallery.ocr import ocr_available, recognise

    if not ocr_available():
        raise SystemExit(f"gallery.ocr: text recognition is off here: {ocr_unavailable()}")
    side = settings.OCR_MAX_SIDE if max_side is None else (max_side or 1_000_000)

    def run(picture: Image.Image) -> list[str]:
        # Set on every call: the product configurations share one settings object.
        settings.OCR_MAX_SIDE = side
        return [word.text for word in recognise(picture).words]

    return run


def ocr_unavailable() -> str | None:
    from gallery.ocr import ocr_unavailable_reason

    return ocr_unavailable_reason()


# -- scoring -------------------------------------------------------------------------


def token(text: str) -> str:
    return _TOKEN.sub("", text.lower())


def matches(drawn: tuple[str, ...], found: list[str]) -> int:
    wanted = Counter(token(word) for word in drawn)
    got = Counter(token(word) for word in found if token(word))
    return sum((wanted & got).values())


def summarise(
    results: dict[str, list[dict[str, Any]]], resolutions: list[str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for config, items in results.items():
        for resolution in resolutions:
            for condition in (*CONDITIONS, "all"):
                chosen = [
                    item
                    for item in items
                    if item["resolution"] == resolution
                    and (condition == "all" or item["condition"] == condition)
                ]
                if not chosen:
                    continue
                drawn = sum(item["drawn"] for item in chosen)
                found = sum(item["found"] for item in chosen)
                matched = sum(item["matched"] for item in chosen)
                timings = [item["ms"] for item in chosen]
                rows.append(
                    {
                        "config": config,
                        "resolution": resolution,
                        "condition": condition,
                        "pictures": len(chosen),
                        "recall": matched / drawn if drawn else None,
                        "precision": matched / found if found else None,
                        "false_words": found - matched,
                        "ms_mean": statistics.fmean(timings),
                        "ms_median": statistics.median(timings),
                        "ms_max": max(timings),
                    }
                )
    return rows


def report(rows: list[dict[str, Any]], configs: list[str]) -> None:
    def pct(value: float | None) -> str:
        return "   -" if value is None else f"{value * 100:4.0f}"

    resolutions = list(dict.fromkeys(row["resolution"] for row in rows))
    for resolution in resolutions:
        print(f"\n{resolution}: recall % / precision % / mean ms per picture")
        header = f"{'condition':11s}" + "".join(f"{config:>24s}" for config in configs)
        print(header)
        for condition in (*CONDITIONS, "all"):
            cells = []
            for config in configs:
                row = next(
                    (
                        r
                        for r in rows
                        if r["config"] == config
                        and r["resolution"] == resolution
                        and r["condition"] == condition
                    ),
                    None,
                )
                if row is None:
                    cells.append(f"{'':>24s}")
                    continue
                extra = f"+{row['false_words']}" if condition == "notext" else ""
                cells.append(
                    f"{pct(row['recall'])} /{pct(row['precision'])}{extra:>4s} /"
                    f"{row['ms_mean']:7.0f}".rjust(24)
                )
            print(f"{condition:11s}" + "".join(cells))
    base = configs[0]
    print(f"\nratios to {base} (all conditions): recall, precision, time")
    for resolution in resolutions:
        first = _row(rows, base, resolution)
        for config in configs[1:]:
            other = _row(rows, config, resolution)
            print(
                f"  {resolution:6s} {config:22s}"
                f" recall {_ratio(other['recall'], first['recall'])}"
                f"  precision {_ratio(other['precision'], first['precision'])}"
                f"  time {_ratio(other['ms_mean'], first['ms_mean'])}"
            )


def _row(rows: list[dict[str, Any]], config: str, resolution: str) -> dict[str, Any]:
    return next(
        r
        for r in rows
        if r["config"] == config and r["resolution"] == resolution and r["condition"] == "all"
    )


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "   -  "
    return f"{value / base:5.2f}x"


# -- corpus --------------------------------------------------------------------------


def corpus(n: int, resolutions: list[str], seed: int) -> Iterator[Sample]:
    rng = random.Random(seed)
    for resolution in resolutions:
        size = RESOLUTIONS[resolution]
        for condition in CONDITIONS:
            for _ in range(n):
                picture, words = render(condition, size, rng)
                yield Sample(condition, resolution, picture, tuple(words))


def render(
    condition: str, size: tuple[int, int], rng: random.Random
) -> tuple[Image.Image, list[str]]:
    width, height = size
    short = min(size)
    if condition == "screenshot":
        return screenshot(size, rng)
    if condition in ("photo", "notext"):
        picture = photo_background(size, rng)
    else:
        shade = rng.randint(225, 255)
        picture = Image.new("RGB", size, (shade, shade, rng.randint(215, 255)))
    if condition == "notext":
        return picture, []
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    drawn: list[str] = []
    y = rng.uniform(0.08, 0.15) * height
    for fraction in (0.04, 0.025, 0.015):
        font = ImageFont.truetype(rng.choice(FONTS), max(8, round(fraction * short)))
        for _ in range(2):
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
            if rng.random() < 0.4:
                words.append(str(rng.randint(10, 9999)))
            line = " ".join(words)
            x = rng.uniform(0.06, 0.2) * width
            right = draw.textbbox((x, y), line, font=font)[2]
            if right > width * 0.94:
                continue
            if condition == "photo":
                light = rng.random() < 0.5
                fill = (250, 250, 240, 255) if light else (20, 20, 30, 255)
                stroke = (0, 0, 0, 255) if light else (255, 255, 255, 255)
                draw.text((x, y), line, font=font, fill=fill, stroke_width=1, stroke_fill=stroke)
            else:
                dark = rng.randint(0, 70)
                draw.text((x, y), line, font=font, fill=(dark, dark, dark + 10, 255))
            drawn.extend(words)
            y += font.size * rng.uniform(1.6, 2.4)
    if condition == "rotated":
        angle = rng.choice((-1, 1)) * rng.uniform(3, 10)
        layer = layer.rotate(
            angle, resample=Image.Resampling.BICUBIC, center=(width / 2, height / 2)
        )
    picture.paste(layer, (0, 0), layer)
    return picture, drawn


def photo_background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Gradients, blurred blobs and grain: a cheap stand-in for a photo's texture."""
    width, height = size
    small = (max(8, width // 8), max(8, height // 8))
    np_rng = np.random.default_rng(rng.randint(0, 2**31))
    ys, xs = np.mgrid[0 : small[1], 0 : small[0]].astype(np.float32)
    base = np.zeros((small[1], small[0], 3), np.float32)
    for channel in range(3):
        gx, gy = np_rng.uniform(-1, 1, 2)
        base[:, :, channel] = 110 + 70 * (gx * xs / small[0] + gy * ys / small[1])
    picture = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = rng.uniform(0, small[0]), rng.uniform(0, small[1])
        r = rng.uniform(0.02, 0.15) * small[0]
        colour = tuple(rng.randint(30, 230) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    picture = picture.filter(ImageFilter.GaussianBlur(small[0] / 80))
    picture = picture.resize(size, Image.Resampling.BILINEAR)
    # Fine texture (foliage, gravel) and sensor grain, at full resolution.
    texture = np_rng.normal(0, 1, (height // 4, width // 4)).astype(np.float32)
    grain = np.asarray(
        Image.fromarray(np.clip(texture * 40 + 128, 0, 255).astype(np.uint8)).resize(
            size, Image.Resampling.BICUBIC
        ),
        np.float32,
    )
    noisy = np.asarray(picture, np.float32) + (grain[:, :, None] - 128) * 0.5
    noisy += np_rng.normal(0, 6, noisy.shape[:2])[:, :, None]
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def screenshot(size: tuple[int, int], rng: random.Random) -> tuple[Image.Image, list[str]]:
    """A window: title bar, a menu down the side, buttons and body text, as UIs draw them."""
    width, height = size
    short = min(size)
    dark_mode = rng.random() < 0.3
    ground = (32, 33, 36) if dark_mode else (250, 250, 250)
    ink = (232, 234, 237) if dark_mode else (32, 33, 36)
    picture = Image.new("RGB", size, ground)
    draw = ImageDraw.Draw(picture)
    sans = [f for f in FONTS if "Serif" not in f]
    drawn: list[str] = []

    def text(x: float, y: float, words: list[str], fraction: float, fill: Any) -> float:
        font = ImageFont.truetype(rng.choice(sans), max(8, round(fraction * short)))
        line = " ".join(words)
        box = draw.textbbox((x, y), line, font=font)
        if box[2] > width * 0.97:
            return 0
        draw.text((x, y), line, font=font, fill=fill)
        drawn.extend(words)
        return box[3] - box[1]

    bar = round(0.045 * height)
    draw.rectangle((0, 0, width, bar), fill=(60, 64, 67) if dark_mode else (225, 228, 232))
    text(0.02 * width, bar * 0.25, [rng.choice(WORDS) for _ in range(3)], 0.018, ink)
    menu_right = 0.18 * width
    draw.rectangle(
        (0, bar, menu_right, height), fill=(41, 42, 45) if dark_mode else (240, 242, 245)
    )
    y = bar + 0.04 * height
    for _ in range(rng.randint(5, 8)):
        text(0.02 * width, y, [rng.choice(WORDS)], 0.015, ink)
        y += 0.05 * height
    x = menu_right + 0.03 * width
    y = bar + 0.05 * height
    text(x, y, [rng.choice(WORDS) for _ in range(rng.randint(2, 4))], 0.024, ink)
    y += 0.07 * height
    for _ in range(rng.randint(4, 7)):
        y += text(x, y, [rng.choice(WORDS) for _ in range(rng.randint(5, 9))], 0.013, ink) * 1.8
    y += 0.03 * height
    for _ in range(3):
        label = [rng.choice(WORDS)]
        font_size = max(8, round(0.014 * short))
        w = font_size * (len(label[0]) * 0.7 + 2)
        draw.rounded_rectangle(
            (x, y, x + w, y + font_size * 2.2), radius=font_size // 3, fill=(26, 115, 232)
        )
        text(x + font_size, y + font_size * 0.5, label, 0.014, (255, 255, 255))
        x += w + font_size * 1.5
    return picture, drawn


if __name__ == "__main__":
    main()
