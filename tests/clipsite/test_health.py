from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from vectorstore import EdgeStore, reset_store

pytestmark = pytest.mark.django_db


def test_healthz_needs_no_auth() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_dependency() -> None:
    response = Client().get("/readyz")

    assert response.status_code == 200, response.json()
    assert set(response.json()["checks"]) == {
        "database",
        "cache",
        "broker",
        "vector_store",
        "storage",
    }


def test_readyz_is_503_when_the_vector_store_cannot_be_opened(
    settings: object, tmp_path: Path
) -> None:
    holder = EdgeStore(str(tmp_path / "held"))
    holder.ensure_collection("images-x-8", 8)
    settings.VECTOR_STORE = {  # type: ignore[attr-defined]
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {"path": str(tmp_path / "held")},
    }
    reset_store()
    try:
        response = Client().get("/readyz")
    finally:
        holder.close()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["vector_store"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
