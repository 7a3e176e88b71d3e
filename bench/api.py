"""End-to-end search latency over HTTP, at 100k indexed images, on two stacks.

* embedded: SQLite, local-memory cache, the embedded vector store;
* production: PostgreSQL and a Redis cache (what runs here of the production
  stack; no Qdrant server can run here, so the vector store stays embedded).

Both serve with gunicorn (one process with threads: the embedded store has one
opener) and a ViT-B/32-shaped model at the default precision.  Image rows and
vectors are loaded directly (encoding 100k images would measure the indexer,
not search).  Queries: varied texts, partly repeated (the query cache), and
searches by an image id.  Each is run at concurrency 1 and 8.

    python -m bench.api [--n 100000] [--requests 400] [--stacks embedded,production]
                        [--kinds text,image_id] [--keep DIR] [--batcher on]
                        [--concurrency 1,8,32] [--threads 32]

`--batcher` names the query batcher settings to compare, one server each:
`off` (`CLIP_QUERY_BATCH=1`), `on` (the defaults), or `wait=MS` (on, with
`CLIP_QUERY_BATCH_WAIT_MS=MS`); e.g. `--batcher off,wait=0,wait=1,wait=2`.

`--kinds image_id` times only the searches by id (no encoder on the path).
With `--keep DIR` the model and the loaded embedded stack stay in DIR and
later runs reuse them (the production stack's database is always rebuilt).

Needs PostgreSQL and Redis on 127.0.0.1 for the production stack (skipped
with a note when they are down).  Writes bench/results/api.json: rows
`{stack, query_kind, concurrency, p50_ms, p99_ms, rps}`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api.json"
PASSWORD = "bench-password-1"
SUBJECTS = ["dog", "cat", "car", "beach", "mountain", "pizza", "child", "bicycle", "forest", "city"]
SCENES = ["at night", "in the snow", "on a sunny day", "in the rain", "indoors", "from above"]


def texts(count: int, seed: int) -> list[str]:
    """Varied queries where about a third repeat an earlier one (as real traffic does)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(count):
        if out and rng.random() < 0.35:
            out.append(rng.choice(out))
        else:
            out.append(f"a {rng.choice(SUBJECTS)} {rng.choice(SCENES)} {rng.randint(1, 999)}")
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stack_env(stack: str, data_dir: Path, model_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "CLIPSEARCH_DEV": "1",
        "CLIPSEARCH_DATA_DIR": str(data_dir),
        "CLIP_MODEL": str(model_dir),
        "THROTTLE_SEARCH": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "clipsite.settings",
        "PYTHONPATH": str(ROOT),
    }
    for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "QDRANT_URL"):
        env.pop(key, None)
    if stack == "production":
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/clipsearch_bench"
        env["REDIS_URL"] = "redis://127.0.0.1:6379/13"
    return env


def vocabulary(size: int, seed: int) -> np.ndarray:
    """Pronounceable made-up words, so that the stemmer and the tokenizer see word-like text."""
    rng = random.Random(seed)
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        length = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(length)))
    return np.array(sorted(words))


class Words:
    """Draws words Zipf-like from `vocabulary`: a few on many pictures, most on a handful."""

    def __init__(self, rng: np.random.Generator, size: int = 20_000) -> None:
        self.rng = rng
        self.vocabulary = vocabulary(size, seed=0)
        weights = 1.0 / np.arange(1, size + 1)
        self.cdf = np.cumsum(weights / weights.sum())

    def draw(self, count: int) -> list[str]:
        picks = np.searchsorted(self.cdf, self.rng.random(count)).clip(max=len(self.cdf) - 1)
        return [str(w) for w in self.vocabulary[picks]]

    def queries(self) -> list[str]:
        """Word queries as people ask them: common words more often, and some rare ones."""
        rare = self.rng.choice(self.vocabulary[2000:], size=200)
        return self.draw(400) + [str(w) for w in rare]


def load(n: int) -> list[str]:
    """Runs in a child process with the stack's environment: rows and vectors, directly.

    Every image has a file name, a third hold recognised text (3 to 30 words)
    and a tenth a caption, so each point carries a lexical side beside CLIP's,
    as the product indexes it. Returns word queries (`Words.queries`); prints
    the ids of up to 2,000 of the "bench" user's images.
    """
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.utils import timezone

    from bench.search import clustered
    from encoder.clip import get_encoder
    from gallery.indexes import index_for
    from gallery.lexical import lexical_point
    from gallery.models import Image
    from vectorstore import VectorPoint, get_store

    call_command("migrate", verbosity=0)
    cache.clear()
    users = get_user_model().objects
    user = users.create_user("bench", password=PASSWORD)
    other = users.create_user("other", password=PASSWORD)
    encoder = get_encoder()
    index_for(encoder)
    store = get_store()
    rng = np.random.default_rng(0)
    words = Words(rng)
    centres = rng.normal(size=(max(100, n // 1000), encoder.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    now = timezone.now()
    for start in range(0, n, 5000):
        count = min(5000, n - start)
        vectors = clustered(count, rng, centres)
        rows = [
            Image(
                id=uuid.uuid4(),
                owner=user if (start + i) % 2 else other,
                file=f"images/bench/{start + i}.jpg",
                original_filename=f"IMG_{start + i:06d}.jpg",
                sha256=f"{start + i:064x}",
                format="JPEG",
                width=640,
                height=480,
                mode="RGB",
                size=100_000,
                visibility="public" if (start + i) % 4 == 0 else "private",
                status=Image.Status.INDEXED,
                model_id=encoder.model_id,
                uploaded_at=now,
                recognised_text=(
                    " ".join(words.draw(int(rng.integers(3, 30)))) if rng.random() < 1 / 3 else ""
                ),
                description=" ".join(words.draw(4)) if rng.random() < 0.1 else "",
                text_indexed_at=now,
            )
            for i in range(count)
        ]
        Image.objects.bulk_create(rows)
        store.upsert(
            encoder.collection_name,
            [
                VectorPoint(
                    id=row.id,
                    vector=v,
                    payload=row.vector_payload(),
                    lexical=lexical_point(row).lexical,
                )
                for row, v in zip(rows, vectors, strict=True)
            ],
        )
    graphs = store.maintenance()
    if graphs is not None:
        # Timed searches run on the built graph, as a server's do once an import has
        # settled; the build is what bench.search measures.
        graphs.wait_for_graph(encoder.collection_name)
    store.close()
    ids = list(Image.objects.filter(owner=user).values_list("pk", flat=True).order_by("pk")[:2000])
    print(json.dumps([str(i) for i in ids]))
    return words.queries()


def post(port: int, path: str, body: dict[str, Any], token: str | None) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    connection.request("POST", path, json.dumps(body), headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, (time.perf_counter() - started) * 1000


def run_load(
    port: int, token: str, bodies: list[dict[str, Any]], concurrency: int
) -> dict[str, float]:
    def one(body: dict[str, Any]) -> float:
        status, ms = post(port, "/api/search/", body, token)
        if status != 200:
            raise RuntimeError(f"search answered {status}")
        return ms

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        timings = list(pool.map(one, bodies))
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": float(np.percentile(timings, 50)),
        "p99_ms": float(np.percentile(timings, 99)),
        "rps": len(bodies) / elapsed,
    }


BATCHER_ENV = {"off": {"CLIP_QUERY_BATCH": "1"}, "on": {}}


def batcher_env(name: str) -> dict[str, str]:
    if name.startswith("wait="):
        return {"CLIP_QUERY_BATCH_WAIT_MS": name.removeprefix("wait=")}
    return BATCHER_ENV[name]


def bench_stack(
    stack: str,
    n: int,
    requests: int,
    model_dir: Path,
    kinds: list[str],
    keep: Path | None = None,
    batchers: tuple[str, ...] = ("on",),
    concurrencies: tuple[int, ...] = (1, 8),
    threads: int = 8,
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{stack}-") as tmp:
        data_dir = keep / f"{stack}-{n}" if keep and stack == "embedded" else Path(tmp)
        env = stack_env(stack, data_dir, model_dir)
        ids_file = data_dir / "bench-ids.json"
        if stack == "production":
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c",
                 "DROP DATABASE IF EXISTS clipsearch_bench"],
                check=True, capture_output=True,
            )  # fmt: skip
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c",
                 "CREATE DATABASE clipsearch_bench"],
                check=True, capture_output=True,
            )  # fmt: skip
        if ids_file.exists():
            print(f"[{stack}] reusing {n:,} images in {data_dir}", flush=True)
            ids = json.loads(ids_file.read_text())
            # The code may have moved on since the stack was loaded.
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
                env=env, cwd=ROOT, check=True,
            )  # fmt: skip
        else:
            print(f"[{stack}] loading {n:,} images ...", flush=True)
            data_dir.mkdir(parents=True, exist_ok=True)
            loaded = subprocess.run(
                [sys.executable, "-c", f"from bench.api import load; load({n})"],
                env=env, cwd=ROOT, check=True, capture_output=True, text=True,
            )  # fmt: skip
            ids = json.loads(loaded.stdout.strip().splitlines()[-1])
            ids_file.write_text(json.dumps(ids))
        rows = []
        for batcher in batchers:
            rows += serve_and_time(
                stack, {**env, **batcher_env(batcher)}, ids, requests, kinds, batcher,
                concurrencies, threads,
            )  # fmt: skip
        return rows


def serve_and_time(
    stack: str,
    env: dict[str, str],
    ids: list[str],
    requests: int,
    kinds: list[str],
    batcher: str,
    concurrencies: tuple[int, ...],
    threads: int,
) -> list[dict[str, Any]]:
    """Start gunicorn with `env`, warm it up, and time each kind at each concurrency."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "clipsite.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", str(threads), "--timeout", "120"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        token = None
        while time.monotonic() < deadline and token is None:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request(
                    "POST", "/api/auth/token/",
                    json.dumps({"username": "bench", "password": PASSWORD}),
                    {"Content-Type": "application/json"},
                )  # fmt: skip
                response = connection.getresponse()
                token = json.loads(response.read())["access"]
            except (OSError, KeyError, ValueError):
                time.sleep(1)
        if token is None:
            raise RuntimeError(f"[{stack}] the server did not come up")
        rng = random.Random(1)
        bodies = {
            "text": [{"query": q, "limit": 20} for q in texts(requests, seed=2)],
            "image_id": [{"image_id": rng.choice(ids), "limit": 20} for _ in range(requests)],
        }
        # Warm up to a server's steady state with other queries than the timed
        # ones, so the query cache starts without them: a fresh process maps
        # the vector index in page by page.
        spare = random.Random(3)
        warm = [{"query": q, "limit": 20} for q in texts(200, seed=3)]
        warm += [{"image_id": spare.choice(ids), "limit": 20} for _ in range(200)]
        run_load(port, token, warm, 4)
        rows = []
        for kind in kinds:
            for concurrency in concurrencies:
                figures = run_load(port, token, bodies[kind], concurrency)
                rows.append(
                    {
                        "stack": stack,
                        "query_kind": kind,
                        "batcher": batcher,
                        "concurrency": concurrency,
                        **figures,
                    }
                )
                print(
                    f"[{stack}] {kind:8s} batcher {batcher:7s} c={concurrency:2d}: "
                    f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms  "
                    f"{figures['rps']:6.1f} req/s",
                    flush=True,
                )
        return rows
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--stacks", default="embedded,production")
    parser.add_argument(
        "--kinds", default="text,image_id", help="query kinds to time: text and/or image_id"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="keep the loaded embedded stack in DIR/embedded-<n> and reuse it on the next run",
    )
    parser.add_argument("--batcher", default="on", help="off, on, wait=MS; comma-separated")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--threads", type=int, default=32, help="gunicorn threads")
    args = parser.parse_args()
    batchers = tuple(b for b in args.batcher.split(",") if b)
    for batcher in batchers:
        if batcher not in BATCHER_ENV and not batcher.startswith("wait="):
            parser.error(f"--batcher: {batcher!r} is not off, on or wait=MS")
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    kinds = [kind for kind in args.kinds.split(",") if kind]
    if not kinds or set(kinds) - {"text", "image_id"}:
        parser.error("--kinds takes text and/or image_id")

    from bench.encode import save_b32

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-model-") as tmp:
        model_dir = (args.keep or Path(tmp)) / "clip-b32-shapes"
        if not (model_dir / "config.json").exists():
            save_b32(model_dir)
        for stack in args.stacks.split(","):
            if stack == "production" and not (service_up(5432) and service_up(6379)):
                print("production stack skipped: PostgreSQL or Redis is not running")
                continue
            rows += bench_stack(
                stack, args.n, args.requests, model_dir, kinds, args.keep,
                batchers, concurrencies, args.threads,
            )  # fmt: skip
    # Rows not run this time are kept (`--stacks` and `--kinds` run a subset).
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []

    def key(row: dict[str, Any]) -> tuple[str, str, str]:
        return row["stack"], row["query_kind"], row.get("batcher", "on")

    ran = {key(row) for row in rows}
    rows = [row for row in previous if key(row) not in ran] + rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
