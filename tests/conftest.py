from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.test import APIClient

from tests.factories import api_client, make_user, upload_file
from vectorstore import reset_store


@pytest.fixture(autouse=True)
def isolated_storage(settings: LazySettings, tmp_path: Path) -> Iterator[Path]:
    """Point media files and the vector store at this test's own directory."""
    media = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {"path": str(tmp_path / "qdrant")},
    }
    reset_store()
    yield media
    reset_store()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Rate-limit counters, cached query vectors and the index search reads must not leak
    between tests."""
    from django.core.cache import cache

    from gallery.indexes import forget_search_index
    from search import querycache

    cache.clear()
    querycache.clear_local()
    forget_search_index()
    yield
    cache.clear()


@pytest.fixture
def alice(db: None) -> AbstractBaseUser:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> AbstractBaseUser:
    return make_user("bob")


@pytest.fixture
def alice_api(alice: AbstractBaseUser) -> APIClient:
    return api_client(alice)


@pytest.fixture
def bob_api(bob: AbstractBaseUser) -> APIClient:
    return api_client(bob)


@pytest.fixture
def upload(
    django_capture_on_commit_callbacks: Any,
) -> Callable[..., Any]:
    """POST an image through the API and run its after-commit indexing for real."""

    def post(client: APIClient, data: bytes, name: str = "photo.png", **fields: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/images/", {"file": upload_file(data, name), **fields}, format="multipart"
            )

    return post


@pytest.fixture
def post_video(
    django_capture_on_commit_callbacks: Any,
) -> Callable[..., Any]:
    """POST a video through the API and run its after-commit indexing for real."""

    def post(client: APIClient, data: bytes, name: str = "film.mp4", **fields: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/videos/", {"file": upload_file(data, name), **fields}, format="multipart"
            )

    return post


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip service tests when their services are not configured, except in CI.

    scripts/test runs them in its service phase with the services configured
    and CLIPSEARCH_REQUIRE_SERVICES=1, so there a missing service fails.
    """
    import os

    from django.conf import settings
    from django.db import connection

    if os.environ.get("CLIPSEARCH_REQUIRE_SERVICES") == "1":
        return
    configured = {
        "postgres": connection.vendor == "postgresql",
        "redis": not settings.CELERY_TASK_ALWAYS_EAGER,
    }
    for item in items:
        missing = [
            name for name, ok in configured.items() if item.get_closest_marker(name) and not ok
        ]
        if missing:
            reason = f"needs {', '.join(missing)}: scripts/test runs it in its service phase"
            item.add_marker(pytest.mark.skip(reason=reason))
