"""Liveness and readiness probes."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse

from clipsite.celery import app
from vectorstore import get_store


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value it was given")
    cache.delete(key)


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_vector_store() -> None:
    get_store().ping()


def _check_storage() -> None:
    default_storage.exists("readyz-probe")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "vector_store": _check_vector_store,
    "storage": _check_storage,
}


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every dependency answers, else 503 naming what failed."""
    results: dict[str, dict[str, str]] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001  (any failure means "not ready")
            results[name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"status": "ok"}
    ready = all(r["status"] == "ok" for r in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
