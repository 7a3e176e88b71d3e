"""Build the HNSW graph of a copied shard in a process of its own.

`python -m vectorstore.build DIR`: the embedded engine's optimize()
holds the GIL for the whole build, so `GraphBuilds.build_in_background` runs it
here, on a copy, while the serving process keeps answering searches.
"""

from __future__ import annotations

import sys

import qdrant_edge as qe


def main(directory: str) -> None:
    shard = qe.EdgeShard.load(directory)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


if __name__ == "__main__":
    main(sys.argv[1])
