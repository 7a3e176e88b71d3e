"""Through the app: a model switch on a Qdrant store flips its search alias and every
search follows the alias at once; a search that the store does not answer in time is a
503 with its own code, not a hang."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from encoder import ClipEncoder, get_encoder, reset_encoder
from gallery.indexes import index_activate, index_for, search_encoder
from gallery.models import VectorIndex
from tests.factories import image_bytes, picture
from tests.support.models import ROOT
from tests.vectorstore.servers import FakeQdrant
from vectorstore import QdrantClientStore, VectorStoreUnavailable, get_store, reset_store

pytestmark = pytest.mark.django_db

ALIAS = "images-search"


@pytest.fixture
def aliased_store(settings: Any, tmp_path: Path) -> QdrantClientStore:
    """qdrant-client's local mode with a search alias, as the settings build it for a server."""
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {"path": str(tmp_path / "local"), "search_alias": ALIAS},
    }
    reset_store()
    store = get_store()
    assert isinstance(store, QdrantClientStore)
    return store


@pytest.fixture
def retrained(
    settings: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], ClipEncoder]]:
    """Points CLIP_MODEL at the demo model saved under another name: a new collection that
    still understands the demo pictures."""
    old = settings.CLIP_MODEL
    target = tmp_path_factory.mktemp("model") / "demo-clip-shapes-retrained"
    shutil.copytree(ROOT / old, target)

    def switch() -> ClipEncoder:
        settings.CLIP_MODEL = str(target)
        return get_encoder()

    yield switch
    settings.CLIP_MODEL = old
    reset_encoder()


def _found(client: Any) -> set[str]:
    body = {"query": "a red circle", "limit": 10, "mode": "semantic"}
    response = client.post("/api/search/", body, format="json")
    assert response.status_code == 200, response.json()
    return {r["image"]["id"] for r in response.json()["results"]}


def test_a_switch_flips_the_alias_and_search_reads_the_new_collection(
    aliased_store: QdrantClientStore, alice_api: Any, upload: Any, retrained: Any
) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]
    old = get_encoder()
    # Before any switch there is no alias: search reads the active row's collection.
    assert aliased_store.search_collection() is None
    assert search_encoder() is old
    new = retrained()
    assert search_encoder() is old  # the new model's index is still building

    out = io.StringIO()
    call_command("reindex", stdout=out, stderr=io.StringIO())

    assert "Search now reads" in out.getvalue()
    assert aliased_store.search_collection() == new.collection_name
    assert search_encoder().collection_name == new.collection_name
    assert image_id in _found(alice_api)


def test_every_search_follows_the_alias_at_once_not_a_cached_row(
    aliased_store: QdrantClientStore, alice_api: Any, upload: Any, retrained: Any
) -> None:
    upload(alice_api, image_bytes(picture()))
    old = get_encoder()
    new = retrained()
    aliased_store.ensure_collection(new.collection_name, new.dim)
    index_activate(index_for(new))
    assert search_encoder() is new

    # Another process flips the alias back: this one's rows and caches are not told.
    aliased_store.activate(old.collection_name)

    assert VectorIndex.objects.get(state=VectorIndex.State.ACTIVE).collection == new.collection_name
    assert search_encoder() is old


def test_a_failed_flip_leaves_the_active_index_as_it_was(
    aliased_store: QdrantClientStore, alice_api: Any, upload: Any, retrained: Any
) -> None:
    upload(alice_api, image_bytes(picture()))
    old = get_encoder()
    new = retrained()
    index = index_for(new)  # its collection was never made: the alias cannot name it

    with pytest.raises(VectorStoreUnavailable):
        index_activate(index)

    assert VectorIndex.objects.get(state=VectorIndex.State.ACTIVE).collection == old.collection_name
    assert aliased_store.search_collection() is None


def test_a_search_the_store_does_not_answer_in_time_is_a_503_with_its_code(
    settings: Any, alice_api: Any, fake_qdrant: Callable[..., FakeQdrant]
) -> None:
    server = fake_qdrant(hang=True)
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {
            "url": server.url,
            "timeout": 5,
            "search_timeout": 1,
            "retries": 2,
            "retry_backoff": 0.01,
            "search_alias": ALIAS,
        },
    }
    reset_store()

    response = alice_api.post(
        "/api/search/", {"query": "a red circle", "mode": "semantic"}, format="json"
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "vector_store_timeout"
    assert any("/points/query" in r for r in server.requests)
