"""Search by the words in a picture: hybrid against semantic, side by side in one run.

Two parts, each in its own process on a fresh embedded stack:

* quality: with the demo model, a gallery of demo scenes of which `--words`
  carry a sign with one word each (the demo world's signs, `demo.sign_scenes`)
  is imported through the product's path (`folder_import`: decode, text
  recognition, CLIP, the store).  Each word is then searched in every mode,
  and the share of words whose own picture comes first is counted.  Every
  other sign is a distractor for a word, so CLIP alone cannot win by finding
  "a sign".  File names are numbers: only what is drawn carries the word.
* latency: `--n` images (100k) with ViT-B/32-shaped vectors and a lexical
  side, loaded directly by `bench.api.load` (a third hold recognised text,
  every one a file name, a tenth a caption); the same word queries through
  `search.services.search` in semantic and hybrid mode, alternated, p50 and
  p99.  Query embeddings are cached before timing, so both modes pay the same
  (nothing) for the text encoder, and the difference is the store and
  hydration: the per-stage means come from `clipsearch_search_stage_seconds`.

    python -m bench.textsearch [--parts quality,latency] [--words 48] [--scenes 300]
                               [--n 100000] [--queries 300] [--keep DIR]

Writes bench/results/textsearch.json: `quality` (top-1 and top-5 per mode,
and how many signs text recognition read) and `latency` (per mode p50/p99
and stage means, and the hybrid/semantic ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.api import stack_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "textsearch.json"
DEMO_MODEL = ROOT / "models" / "demo-clip-shapes"
MODES = ("hybrid", "semantic", "text")
# Words a library's signs, labels and screenshots carry; the demo world's own first.
SIGN_WORDS = (
    "EXIT", "CAFE", "INVOICE", "HOTEL", "GATE B12", "SALE", "BAKERY", "PHARMACY",
    "TICKETS", "PLATFORM", "MUSEUM", "PARKING", "STATION", "LIBRARY", "GARDEN", "BRIDGE",
    "MARKET", "HARBOUR", "SCHOOL", "THEATRE", "CINEMA", "BANK", "POST", "TAXI",
    "HOSPITAL", "AIRPORT", "BEACH", "CASTLE", "CHURCH", "KITCHEN", "OFFICE", "STUDIO",
    "RECEIPT", "ORDER 2024", "TOTAL", "RESERVED", "OPEN", "CLOSED", "WELCOME", "PIZZA",
    "BOOKS", "FLOWERS", "COFFEE", "BREAD", "WINE", "FISH", "TOWER", "ROOM 12",
    "NORTH", "SOUTH", "ENTRANCE", "TOILETS", "GARAGE", "PHONE", "LOBBY", "ELEVATOR",
)  # fmt: skip


def quality(words: int, scenes: int, seed: int) -> dict[str, Any]:
    """Runs in a child process on a fresh embedded stack with the demo model."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from demo import generate_scenes, sign_scenes, write_labelled_folder
    from gallery.bulk import folder_import
    from gallery.importing import iter_image_files, quiet_task_logs
    from gallery.models import Image
    from gallery.ocr import ocr_enabled, ocr_unavailable_reason
    from search.services import SearchRequest, SearchResult, TextTerm, search

    if not ocr_enabled():
        raise SystemExit(f"text recognition is off here: {ocr_unavailable_reason()}")
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    chosen = SIGN_WORDS[:words]
    folder = Path(os.environ["CLIPSEARCH_DATA_DIR"]) / "gallery"
    samples = generate_scenes(scenes, seed=seed) + sign_scenes(chosen, seed=seed)
    written = write_labelled_folder(folder, samples, seed=seed)
    started = time.perf_counter()
    with quiet_task_logs():
        summary = folder_import(owner=user, files=iter_image_files(folder))
    import_s = time.perf_counter() - started
    target = {
        item.labels["sign"]: Image.objects.get(owner=user, original_filename=item.file)
        for item in written
        if "sign" in item.labels
    }
    read = sum(word in image.recognised_text for word, image in target.items())
    first: dict[str, int] = dict.fromkeys(MODES, 0)
    top5: dict[str, int] = dict.fromkeys(MODES, 0)
    misses: dict[str, list[str]] = {mode: [] for mode in MODES}
    for word, image in target.items():
        for mode in MODES:
            request = SearchRequest(texts=(TextTerm(word.lower()),), mode=mode, limit=5)
            results = search(user=user, request=request).results
            found = [r.image.pk for r in results if isinstance(r, SearchResult)]
            first[mode] += bool(found) and found[0] == image.pk
            top5[mode] += image.pk in found
            if not found or found[0] != image.pk:
                misses[mode].append(word)
    count = len(target)
    return {
        "model": DEMO_MODEL.name,
        "images": summary.indexed,
        "words": count,
        "import_s": round(import_s, 1),
        "signs_read": read / count,
        "top1": {mode: first[mode] / count for mode in MODES},
        "top5": {mode: top5[mode] / count for mode in MODES},
        "misses": {mode: words for mode, words in misses.items() if mode != "semantic"},
    }


def latency(queries: list[str], seed: int) -> dict[str, Any]:
    """Runs in a child process on the loaded stack: the same queries in both modes."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from prometheus_client import REGISTRY

    from search.services import SearchRequest, TextTerm, search

    user = get_user_model().objects.get(username="bench")
    rng = random.Random(seed)
    timed_modes = ("semantic", "hybrid")
    # Warm up: every embedding into the query cache, and the store's pages in.
    for query in queries:
        search(user=user, request=SearchRequest(texts=(TextTerm(query),), mode="semantic"))
    timings: dict[str, list[float]] = {mode: [] for mode in timed_modes}
    stages: dict[str, dict[str, float]] = {mode: {} for mode in timed_modes}

    def stage_sums() -> dict[str, float]:
        return {
            stage: REGISTRY.get_sample_value(
                "clipsearch_search_stage_seconds_sum", {"stage": stage}
            )
            or 0.0
            for stage in ("encode", "vector_query", "hydrate")
        }

    for query in queries:
        order = list(timed_modes)
        rng.shuffle(order)
        for mode in order:
            request = SearchRequest(texts=(TextTerm(query),), mode=mode, limit=20)
            before = stage_sums()
            started = time.perf_counter()
            search(user=user, request=request)
            timings[mode].append((time.perf_counter() - started) * 1000)
            for stage, total in stage_sums().items():
                spent = (total - before[stage]) * 1000
                stages[mode][stage] = stages[mode].get(stage, 0.0) + spent
    out: dict[str, Any] = {}
    for mode in timed_modes:
        out[mode] = {
            "p50_ms": float(np.percentile(timings[mode], 50)),
            "p99_ms": float(np.percentile(timings[mode], 99)),
            "stage_mean_ms": {s: v / len(queries) for s, v in stages[mode].items()},
        }
    out["hybrid_vs_semantic"] = {
        key: out["hybrid"][key] / out["semantic"][key] for key in ("p50_ms", "p99_ms")
    }
    return out


def _child(call: str, env: dict[str, str]) -> Any:
    script = f"import json, bench.api as api, bench.textsearch as t; print(json.dumps({call}))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="quality,latency")
    parser.add_argument("--words", type=int, default=48)
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", metavar="DIR", type=Path, help="reuse the latency stack")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - {"quality", "latency"} or not 1 <= args.words <= len(SIGN_WORDS):
        parser.error(f"--parts takes quality,latency; --words 1..{len(SIGN_WORDS)}")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}

    if "quality" in parts:
        with tempfile.TemporaryDirectory(prefix="bench-textsearch-q-") as tmp:
            env = stack_env("embedded", Path(tmp), DEMO_MODEL)
            got = _child(f"t.quality({args.words}, {args.scenes}, {args.seed})", env)
        results["quality"] = got
        print(
            f"quality: {got['words']} words among {got['images']} images "
            f"(signs read by OCR: {got['signs_read']:.0%}), word's picture first:"
        )
        for mode in MODES:
            print(f"  {mode:8s} top-1 {got['top1'][mode]:5.0%}   top-5 {got['top5'][mode]:5.0%}")

    if "latency" in parts:
        from bench.encode import save_b32

        with tempfile.TemporaryDirectory(prefix="bench-textsearch-l-") as tmp:
            base = args.keep or Path(tmp)
            model_dir = base / "clip-b32-shapes"
            if not (model_dir / "config.json").exists():
                save_b32(model_dir)
            data_dir = base / f"textsearch-{args.n}"
            env = stack_env("embedded", data_dir, model_dir)
            queries_file = data_dir / "queries.json"
            if not queries_file.exists():
                print(f"latency: loading {args.n:,} images ...", flush=True)
                data_dir.mkdir(parents=True, exist_ok=True)
                queries_file.write_text(json.dumps(_child(f"api.load({args.n})", env)))
            queries = json.loads(queries_file.read_text())
            random.Random(args.seed).shuffle(queries)
            got = _child(f"t.latency({queries[: args.queries]!r}, {args.seed})", env)
        got["n"] = args.n
        got["queries"] = min(args.queries, len(queries))
        results["latency"] = got
        print(f"latency at {args.n:,} images, {got['queries']} word queries, query cache warm:")
        for mode in ("semantic", "hybrid"):
            row = got[mode]
            means = ", ".join(f"{s} {v:.1f}" for s, v in row["stage_mean_ms"].items())
            print(
                f"  {mode:8s} p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  "
                f"(stage means: {means} ms)"
            )
        ratio = got["hybrid_vs_semantic"]
        print(f"  hybrid / semantic: p50 {ratio['p50_ms']:.2f}x, p99 {ratio['p99_ms']:.2f}x")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
