"""The query batcher in one process, side by side: concurrent text queries with it off and on.

Threads call `ClipEncoder.encode_texts([query])` on a ViT-B/32-shaped model
at the precision `auto` picks here, as a server's request threads do, with
every query distinct (no query cache). Each configuration is
`CLIP_QUERY_BATCH:CLIP_QUERY_BATCH_WAIT_MS`; `1:0` is the batcher off.

    python -m bench.querybatch [--configs 1:0,32:0,32:1,32:2] [--queries 300] [--rounds 2]

Prints p50/p99 per query and queries/s at concurrency 1, 8 and 32, and writes
bench/results/querybatch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "querybatch.json"
SUBJECTS = ["dog", "cat", "car", "beach", "mountain", "pizza", "child", "bicycle"]
SCENES = ["at night", "in the snow", "on a sunny day", "in the rain"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="1:0,32:0,32:1,32:2")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2, help="each configuration, interleaved")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    os.environ.setdefault("CLIPSEARCH_DEV", "1")
    import django

    django.setup()
    from bench.encode import save_b32
    from encoder.clip import ClipEncoder, configure_threads

    configure_threads(0)
    rng = random.Random(0)
    queries = [f"a {rng.choice(SUBJECTS)} {rng.choice(SCENES)} {i}" for i in range(args.queries)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-querybatch-") as tmp:
        model = str(save_b32(Path(tmp) / "b32"))
        precision = ClipEncoder(model, device="cpu", precision="auto").precision
        for _ in range(args.rounds):
            for config in args.configs.split(","):
                batch, wait = config.split(":")
                encoder = ClipEncoder(
                    model,
                    device="cpu",
                    precision=precision,
                    query_batch=int(batch),
                    query_wait_seconds=float(wait) / 1000,
                )
                for concurrency in (1, 8, 32):
                    rows.append(
                        {"config": config, "concurrency": concurrency, "precision": precision}
                        | load(encoder, queries, concurrency)
                    )
                    row = rows[-1]
                    print(
                        f"{config:6s} c={concurrency:2d}: p50 {row['p50_ms']:6.1f} ms  "
                        f"p99 {row['p99_ms']:6.1f} ms  {row['qps']:6.1f} queries/s",
                        flush=True,
                    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def load(encoder: Any, queries: list[str], concurrency: int) -> dict[str, float]:
    timings: list[float] = []

    def one(query: str) -> None:
        started = time.perf_counter()
        encoder.encode_texts([query])
        timings.append((time.perf_counter() - started) * 1000)

    count = len(queries) if concurrency > 1 else len(queries) // 2
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, queries[:count]))
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": float(np.percentile(timings, 50)),
        "p99_ms": float(np.percentile(timings, 99)),
        "qps": count / elapsed,
    }


if __name__ == "__main__":
    main()
