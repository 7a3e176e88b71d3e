"""Which way of applying a negative term ranks best? Side by side on the demo world.

For every query "<shape>" minus "<colour>", a result is relevant when it has
that shape and not that colour. The strategies: subtracting the negative from
the query vector (at several weights) and Qdrant's recommend scoring
(best_score, sum_scores), all run through the same EdgeStore.

    python -m bench.negatives [--model models/demo-clip-shapes] [--repeats 2]

Prints a table (mean precision@10 and the share of top-10 results that carry
the negated colour) and writes bench/results/negatives.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    os.environ.setdefault("CLIPSEARCH_DEV", "1")
    import django

    django.setup()
    from demo import COLOURS, SHAPES, held_out_scenes
    from encoder.clip import ClipEncoder
    from vectorstore import EdgeStore, VectorPoint, VectorQuery

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "models" / "demo-clip-shapes"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    encoder = ClipEncoder(args.model)
    samples = held_out_scenes(seed=99, repeats=args.repeats, renderer="pil")
    labels = [s[2] for s in samples]
    vectors = encoder.encode_images([s[0] for s in samples])
    store = EdgeStore(tempfile.mkdtemp(prefix="bench-negatives-"))
    ids = [uuid.uuid4() for _ in samples]
    store.upsert("bench", [VectorPoint(id=i, vector=v) for i, v in zip(ids, vectors, strict=True)])
    label_of = dict(zip(ids, labels, strict=True))

    strategies: dict[str, object] = {
        "no negative": None,
        "arithmetic w=0.3": 0.3,
        "arithmetic w=0.5": 0.5,
        "arithmetic w=1.0": 1.0,
        "qdrant best_score": "best_score",
        "qdrant sum_scores": "sum_scores",
    }
    rows: dict[str, dict[str, float]] = {}
    for name, how in strategies.items():
        precisions, leaks = [], []
        for shape in SHAPES:
            for colour in COLOURS:
                positive, negative = encoder.encode_texts([shape, colour])
                if how is None:
                    query = VectorQuery(vector=positive, limit=args.k)
                elif isinstance(how, float):
                    combined = positive - how * negative
                    query = VectorQuery(vector=combined / np.linalg.norm(combined), limit=args.k)
                else:
                    query = VectorQuery(
                        positives=(positive,),
                        negatives=(negative,),
                        strategy=str(how),
                        limit=args.k,
                    )
                top = [label_of[h.id] for h in store.query("bench", query)]
                precisions.append(
                    np.mean([t["shape"] == shape and t["colour"] != colour for t in top])
                )
                leaks.append(np.mean([t["colour"] == colour for t in top]))
        rows[name] = {
            f"precision@{args.k}": float(np.mean(precisions)),
            "negated colour in top": float(np.mean(leaks)),
        }
    store.close()

    width = max(len(n) for n in rows)
    print(
        f"model: {encoder.model_id}, {len(samples)} held-out scenes, "
        f"{len(SHAPES) * len(COLOURS)} queries"
    )
    print(f"{'strategy':<{width}}  precision@{args.k}  negated colour in top-{args.k}")
    for name, row in rows.items():
        values = list(row.values())
        print(f"{name:<{width}}  {values[0]:>12.3f}  {values[1]:>22.3f}")
    out = ROOT / "bench" / "results" / "negatives.json"
    out.write_text(json.dumps({"model": encoder.model_id, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
