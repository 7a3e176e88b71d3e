"""Vector search at scale through the product's own adapters, side by side in one run.

Data that resembles CLIP embeddings: a mixture of Gaussian clusters on the
unit sphere (not uniform noise, which is HNSW's worst case and no real
data), 512 dimensions.  Queries come from the same clusters but are not in
the data.  Payloads carry an owner (1%, 10% and 50% of the points belong to
three owners), a visibility (1% of the others' points are public) and an
upload date (a six-month window holds about 10%).  The owner filters are the
access filter every real search carries (`search.services.access_filter`:
the owner's images, or public and not hidden).

Engines, each built and measured in its own process (so RSS is its own):

* numpy: brute force, the exact reference for recall;
* edge-exact: the embedded engine through `EdgeStore`, exact search;
* edge-hnsw: the same with its HNSW graph and the product's `IndexTuning`
  (tenant owner index, payload links, full-scan threshold, ACORN);
* edge-hnsw-int8: the same with int8 scalar quantization and rescoring;
* edge-hnsw-plain: a graph without payload links, ACORN or the scan
  fallback: what plain HNSW does to filtered search;
* local: qdrant-client's local mode through `QdrantClientStore` (up to 200k).

    python -m bench.search [--n 100000] [--queries 100] [--keep DIR]

Each engine is built in one process and searched from a fresh one, so
`rss_mb` is what serving costs (`build_rss_mb` is the build's peak).  With
`--keep` the data and the built indexes stay in DIR and later runs reuse them.

Rows `{engine, n, filter, recall_at_10, p50_ms, p99_ms, build_s, rss_mb,
build_rss_mb, disk_mb}` go to bench/results/search.json (merged by engine, n and filter,
so runs at 100k and 1M accumulate).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "search.json"
DIM = 512
OWNERS = {"o1": 0.01, "o10": 0.10, "o50": 0.50}  # the rest belong to "others"
PUBLIC_SHARE = 0.01  # of the others' points
START = datetime(2020, 1, 1, tzinfo=UTC)
DAYS = 5 * 365
WINDOW = (START + timedelta(days=900), START + timedelta(days=900 + DAYS // 10))
ENGINES = ("numpy", "edge-exact", "edge-hnsw", "edge-hnsw-int8", "edge-hnsw-plain", "local")


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Unit vectors around random cluster centres (intra-cluster cosine about 0.8)."""
    out = np.empty((n, DIM), dtype=np.float32)
    step = 50_000
    for start in range(0, n, step):
        count = min(step, n - start)
        picks = rng.integers(0, len(centres), count)
        noise = rng.normal(scale=0.7 / np.sqrt(DIM), size=(count, DIM)).astype(np.float32)
        block = centres[picks] + noise
        out[start : start + count] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def make_data(folder: Path, n: int, queries: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(100, n // 1000), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    np.save(folder / "vectors.npy", clustered(n, rng, centres))
    np.save(folder / "queries.npy", clustered(queries, rng, centres))
    draw = rng.random(n)
    owner = np.full(n, 3, dtype=np.int8)  # others
    edges = np.cumsum(list(OWNERS.values()))
    for index, edge in enumerate(edges[::-1]):
        owner[draw < edge] = len(edges) - 1 - index
    np.save(folder / "owner.npy", owner)
    np.save(folder / "public.npy", (owner == 3) & (rng.random(n) < PUBLIC_SHARE))
    np.save(folder / "day.npy", rng.integers(0, DAYS, n).astype(np.int32))


def masks(folder: Path) -> dict[str, np.ndarray | None]:
    owner = np.load(folder / "owner.npy")
    public = np.load(folder / "public.npy")
    day = np.load(folder / "day.npy")
    lo, hi = ((d - START).days for d in WINDOW)
    return {
        "none": None,
        "owner 1%": (owner == 0) | public,
        "owner 10%": (owner == 1) | public,
        "owner 50%": (owner == 2) | public,
        "date 10%": (day >= lo) & (day <= hi),
    }


def store_filter(name: str) -> Any:
    from vectorstore import DateRange, Filter, Match

    if name == "none":
        return None
    if name.startswith("owner"):
        key = {"owner 1%": "o1", "owner 10%": "o10", "owner 50%": "o50"}[name]
        # The shape of search.services.access_filter.
        shared = Filter(must=(Match("visibility", "public"),), must_not=(Match("hidden", 1),))
        return Filter(should=(Match("owner", key), shared))
    return Filter(must=(DateRange("uploaded_at", gte=WINDOW[0], lte=WINDOW[1]),))


def exact_top(folder: Path, k: int = 10) -> dict[str, list[list[int]]]:
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    queries = np.load(folder / "queries.npy")
    scores = np.asarray(vectors @ queries.T)  # (n, q)
    tops: dict[str, list[list[int]]] = {}
    for name, mask in masks(folder).items():
        masked = scores if mask is None else np.where(mask[:, None], scores, -np.inf)
        best = np.argpartition(-masked, k, axis=0)[:k].T
        # Recall compares sets, so the order within the top k does not matter.
        tops[name] = [row.tolist() for row in best]
    return tops


def rss_mb() -> float:
    """Peak RSS of this process. Linux carries ru_maxrss across exec, so a spawned
    child would report its parent's peak; VmHWM is the child's own."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def open_engine(engine: str, folder: Path) -> Any:
    from vectorstore import EdgeStore, QdrantClientStore
    from vectorstore.tuning import IndexTuning

    path = folder / engine
    if engine == "edge-exact":
        return EdgeStore(str(path))
    if engine == "edge-hnsw":
        return EdgeStore(str(path), exact=False)
    if engine == "edge-hnsw-int8":
        return EdgeStore(str(path), exact=False, tuning=IndexTuning(quantization="int8"))
    if engine == "edge-hnsw-plain":
        plain = IndexTuning(payload_m=0, acorn=False, full_scan_threshold_kb=1)
        return EdgeStore(str(path), exact=False, tuning=plain)
    return QdrantClientStore(path=str(path))


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    os.environ.setdefault("CLIPSEARCH_DEV", "1")
    import django

    django.setup()


def build_engine(engine: str, folder: Path, out: Any) -> None:
    """Load every point and build the graph; runs in a child process."""
    _django()
    from vectorstore import VectorPoint

    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    owner = np.load(folder / "owner.npy")
    public = np.load(folder / "public.npy")
    day = np.load(folder / "day.npy")
    names = [*OWNERS, "others"]
    started = time.perf_counter()
    store = open_engine(engine, folder)
    store.ensure_collection("bench", DIM)
    for start in range(0, len(vectors), 1000):
        stop = min(start + 1000, len(vectors))
        store.upsert(
            "bench",
            [
                VectorPoint(
                    id=uuid.UUID(int=i + 1),
                    vector=np.asarray(vectors[i]),
                    payload={
                        "owner": names[owner[i]],
                        "visibility": "public" if public[i] else "private",
                        "hidden": 0,
                        "uploaded_at": (START + timedelta(days=int(day[i]))).isoformat(),
                    },
                )
                for i in range(start, stop)
            ],
        )
    if engine.startswith("edge-hnsw"):
        store.maintenance().optimize("bench")
    store.close()
    out.put(
        {
            "build_s": time.perf_counter() - started,
            "build_rss_mb": rss_mb(),
            "disk_mb": disk_mb(folder / engine),
        }
    )


def measure_engine(engine: str, folder: Path, out: Any) -> None:
    """Open a built engine and time every filter; runs in a fresh child process,
    so its RSS is what serving costs, not what building did."""
    _django()
    queries = np.load(folder / "queries.npy")
    search: Callable[[np.ndarray, Any, np.ndarray | None], list[int]]
    if engine == "numpy":
        matrix = np.load(folder / "vectors.npy")

        def search(query: np.ndarray, flt: Any, mask: np.ndarray | None) -> list[int]:
            scores = matrix @ query
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            top: list[int] = np.argpartition(-scores, 10)[:10].tolist()
            return top

    else:
        store = open_engine(engine, folder)
        graphs = store.maintenance()
        if graphs is not None:  # the embedded engine: a segment count worth reporting
            print(f"{engine}: {graphs.segments('bench')} segment(s)", flush=True)

        def search(query: np.ndarray, flt: Any, mask: np.ndarray | None) -> list[int]:
            return [hit.id.int - 1 for hit in store.search("bench", query, limit=10, filter=flt)]

    # Warm up with other vectors than the timed queries. A fresh process maps
    # the index in page by page: at 1M the float graph's first 400 searches
    # took 7 ms at p50 and the steady state 2 ms, which is a server's latency.
    data = np.load(folder / "vectors.npy", mmap_mode="r")
    count = 1000 if engine.startswith("edge-hnsw") else 20
    picks = np.sort(np.random.default_rng(1).choice(len(data), count, replace=False))
    for query in np.asarray(data[picks]):
        search(query, None, None)
    rows = []
    for name, mask in masks(folder).items():
        flt = store_filter(name)
        for query in np.asarray(data[picks[:20]]):
            search(query, flt, mask)
        timings, found = [], []
        for query in queries:
            begun = time.perf_counter()
            found.append(search(query, flt, mask))
            timings.append((time.perf_counter() - begun) * 1000)
        rows.append(
            {
                "engine": engine,
                "n": len(data),
                "filter": name,
                "found": found,
                "p50_ms": float(np.percentile(timings, 50)),
                "p99_ms": float(np.percentile(timings, 99)),
                "rss_mb": rss_mb(),
            }
        )
    out.put(rows)


def _in_child(target: Callable[..., None], *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the data and the built indexes in DIR/<n> and reuse them on the next run",
    )
    args = parser.parse_args()

    engines = [e for e in args.engines.split(",") if e]
    if args.n > 200_000 and "local" in engines:
        # Local mode keeps every point as Python objects and scans them in numpy:
        # at a million it needs tens of GB and is not what it is for.
        engines.remove("local")
        print("local mode skipped above 200k points")
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        folder = Path(args.keep) / str(args.n) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "day.npy").exists():
            print(f"generating {args.n:,} clustered vectors ...", flush=True)
            make_data(folder, args.n, args.queries)
        reference = exact_top(folder)
        rows = []
        for engine in engines:
            built = folder / f"{engine}.build.json"
            if engine == "numpy":
                build = {"build_s": 0.0, "build_rss_mb": 0.0, "disk_mb": 0.0}
            elif built.exists():
                build = json.loads(built.read_text())
                print(f"{engine}: reusing the index built in {build['build_s']:.0f} s", flush=True)
            else:
                build = _in_child(build_engine, engine, folder)
                built.write_text(json.dumps(build))
            for row in _in_child(measure_engine, engine, folder):
                row.update(build)
                truth = reference[row["filter"]]
                hits = [
                    len(set(found) & set(exact)) / max(1, len(exact))
                    for found, exact in zip(row.pop("found"), truth, strict=True)
                ]
                row["recall_at_10"] = float(np.mean(hits))
                rows.append(row)
                print(
                    f"{row['engine']:16s} {row['filter']:10s} recall@10 {row['recall_at_10']:.3f}"
                    f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms"
                    f"  build {row['build_s']:6.1f} s  rss {row['rss_mb']:7.0f} MB"
                    f" (build {row['build_rss_mb']:6.0f})  disk {row['disk_mb']:6.0f} MB",
                    flush=True,
                )
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    keys = {(r["engine"], r["n"], r["filter"]) for r in rows}
    merged = [r for r in previous if (r["engine"], r["n"], r["filter"]) not in keys] + rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
