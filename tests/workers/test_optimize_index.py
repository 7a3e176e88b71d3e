"""`manage.py optimize_index` builds the embedded store's graphs, and leaves a server alone."""

from __future__ import annotations

import uuid
from io import StringIO
from pathlib import Path

import numpy as np
from django.conf import LazySettings
from django.core.management import call_command

from vectorstore import VectorPoint, get_store, reset_store


def _points(count: int, dim: int) -> list[VectorPoint]:
    vectors = np.random.default_rng(0).normal(size=(count, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [VectorPoint(id=uuid.uuid4(), vector=v) for v in vectors]


def test_optimize_index_builds_every_embedded_collection(
    settings: LazySettings, tmp_path: Path
) -> None:
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {"path": str(tmp_path / "edge"), "indexing_threshold_kb": 1},
    }
    reset_store()
    get_store().upsert("images-cmd-16", _points(1200, 16))
    out = StringIO()

    call_command("optimize_index", stdout=out)

    assert "images-cmd-16: 1200 vectors in the graph" in out.getvalue()
    graphs = get_store().maintenance()
    assert graphs is not None
    assert graphs.indexed_vectors("images-cmd-16") == 1200


def test_optimize_index_leaves_a_qdrant_server_to_itself(
    settings: LazySettings, tmp_path: Path
) -> None:
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {"path": str(tmp_path / "local")},
    }
    reset_store()
    out = StringIO()

    call_command("optimize_index", stdout=out)

    assert "optimises itself" in out.getvalue()
