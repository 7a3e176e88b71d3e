"""The cluster settings of the qdrant-client adapter reach the client's calls.

Local mode accepts the topology, ordering, consistency and timeout arguments
and ignores them, so each test wraps the real client's methods with a spy
that records their keyword arguments and then calls through: what a server
would receive, and the local engine still answers. Retries and timeouts run
against real sockets on 127.0.0.1: a closed port, and a small HTTP server
that answers as Qdrant does, fails, or never answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from qdrant_client import models

import vectorstore.client
from tests.vectorstore.servers import COLLECTION, FakeQdrant, closed_port
from vectorstore import (
    LexicalPoint,
    QdrantClientStore,
    SparseVector,
    VectorPoint,
    VectorQuery,
    VectorStoreTimeout,
    VectorStoreUnavailable,
)

DIM = 4
ALIAS = "images-search"

Calls = dict[str, list[dict[str, Any]]]


def spy(monkeypatch: pytest.MonkeyPatch, store: QdrantClientStore, *names: str) -> Calls:
    """Record the keyword arguments of each call to the client's `names`, calling through."""
    calls: Calls = {name: [] for name in names}
    for name in names:
        real = getattr(store.client, name)

        def recorded(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name].append(kwargs)
            return _real(*args, **kwargs)

        monkeypatch.setattr(store.client, name, recorded)
    return calls


def unit(*values: float) -> np.ndarray:
    v = np.asarray(list(values) + [0.0] * (DIM - len(values)), dtype=np.float32)
    return v / np.linalg.norm(v)


def point(vector: np.ndarray, **payload: Any) -> VectorPoint:
    base = {"owner": "1", "visibility": "private", "group": str(uuid.uuid4())}
    return VectorPoint(id=uuid.uuid4(), vector=vector, payload={**base, **payload})


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Callable[..., QdrantClientStore]]:
    opened: list[QdrantClientStore] = []

    def open_store(**options: Any) -> QdrantClientStore:
        store = QdrantClientStore(path=str(tmp_path / f"local-{len(opened)}"), **options)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def test_shards_replicas_and_write_consistency_reach_create_collection(
    local: Callable[..., QdrantClientStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = local(shards=6, replicas=2, write_consistency=2)
    calls = spy(monkeypatch, store, "create_collection")

    store.ensure_collection(COLLECTION, DIM)

    (created,) = calls["create_collection"]
    assert created["shard_number"] == 6
    assert created["replication_factor"] == 2
    assert created["write_consistency_factor"] == 2
    assert COLLECTION in store.collections()


def test_access_control_writes_are_strongly_ordered_and_upserts_are_not(
    local: Callable[..., QdrantClientStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = local()
    calls = spy(monkeypatch, store, "upsert", "set_payload", "delete", "update_vectors")
    kept, gone = point(unit(1, 0)), point(unit(0, 1))

    store.upsert(COLLECTION, [kept, gone])
    store.set_payload([kept.id], {"visibility": "public", "hidden": 1})
    store.set_lexical([LexicalPoint(kept.id, SparseVector((3,), (1.0,)), {"text": "a cat"})])
    store.delete([gone.id])

    (upsert,) = calls["upsert"]
    assert upsert.get("ordering") is None  # Qdrant's default (weak) ordering
    strong = calls["set_payload"] + calls["delete"] + calls["update_vectors"]
    assert len(strong) == 4
    for call in strong:
        assert call["ordering"] == models.WriteOrdering.STRONG
        assert call["wait"] is True
    # And they were applied.
    public = store.query(COLLECTION, VectorQuery(vector=unit(1, 0), with_payload=True, limit=10))
    assert [(h.id, h.payload and h.payload["visibility"]) for h in public] == [(kept.id, "public")]


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        ("majority", models.ReadConsistencyType.MAJORITY),
        ("all", models.ReadConsistencyType.ALL),
        (2, 2),
    ],
)
def test_reads_carry_the_read_consistency_and_searches_their_timeout(
    local: Callable[..., QdrantClientStore],
    monkeypatch: pytest.MonkeyPatch,
    configured: Any,
    sent: Any,
) -> None:
    store = local(read_consistency=configured, timeout=20, search_timeout=3)
    near = point(unit(1, 0.1))
    store.upsert(COLLECTION, [near, point(unit(0, 1))])
    calls = spy(
        monkeypatch, store, "query_batch_points", "query_points_groups", "retrieve", "scroll"
    )

    hits = store.query(COLLECTION, VectorQuery(vector=unit(1, 0), limit=1))
    grouped = store.query(COLLECTION, VectorQuery(vector=unit(1, 0), limit=1, group_size=1))
    store.retrieve_vectors(COLLECTION, [near.id])
    list(store.iter_ids(COLLECTION))

    assert [h.id for h in hits] == [h.id for h in grouped] == [near.id]
    for name in ("query_batch_points", "query_points_groups", "retrieve", "scroll"):
        assert calls[name], name
        assert all(call["consistency"] == sent for call in calls[name]), name
    for name in ("query_batch_points", "query_points_groups", "retrieve"):
        assert all(call["timeout"] == 3 for call in calls[name]), name


def test_a_connection_error_is_tried_again_then_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = QdrantClientStore(
        url=f"http://127.0.0.1:{closed_port()}", retries=2, retry_backoff=0.01
    )
    calls = spy(monkeypatch, store, "get_collections")

    with pytest.raises(VectorStoreUnavailable) as failed:
        store.collections()

    assert len(calls["get_collections"]) == 3
    assert failed.value.code == "vector_store_unavailable"
    store.close()


def test_prefer_grpc_and_its_port_reach_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[dict[str, Any]] = []

    class Recorded(vectorstore.client.QdrantClient):
        def __init__(self, **kwargs: Any) -> None:
            opened.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(vectorstore.client, "QdrantClient", Recorded)
    grpc_port = closed_port()
    store = QdrantClientStore(
        url=f"http://127.0.0.1:{closed_port()}",
        prefer_grpc=True,
        grpc_port=grpc_port,
        retries=1,
        retry_backoff=0.01,
    )

    calls = spy(monkeypatch, store, "get_collections")

    with pytest.raises(VectorStoreUnavailable) as failed:
        store.collections()

    assert len(calls["get_collections"]) == 2
    assert opened[0]["prefer_grpc"] is True
    assert opened[0]["grpc_port"] == grpc_port
    # The request went over gRPC, and UNAVAILABLE counted as worth another try.
    cause = failed.value.__cause__
    assert isinstance(cause, grpc.RpcError)
    assert cause.code() == grpc.StatusCode.UNAVAILABLE
    store.close()


def test_a_5xx_is_tried_again_with_backoff_until_it_answers(
    fake_qdrant: Callable[..., FakeQdrant],
) -> None:
    server = fake_qdrant(failures=2)
    store = QdrantClientStore(url=server.url, retries=2, retry_backoff=0.01)

    assert store.collections() == [COLLECTION]
    assert server.hits("GET /collections") == 3
    store.close()


def test_retries_are_bounded(fake_qdrant: Callable[..., FakeQdrant]) -> None:
    server = fake_qdrant(failures=5)
    store = QdrantClientStore(url=server.url, retries=1, retry_backoff=0.01)

    with pytest.raises(VectorStoreUnavailable):
        store.collections()
    assert server.hits("GET /collections") == 2
    store.close()


def test_a_4xx_is_not_tried_again(fake_qdrant: Callable[..., FakeQdrant]) -> None:
    server = fake_qdrant(refuse=True)
    store = QdrantClientStore(url=server.url, retries=3, retry_backoff=0.01)

    with pytest.raises(VectorStoreUnavailable):
        store.collections()
    assert server.hits("GET /collections") == 1
    store.close()


def test_a_search_that_times_out_raises_once_with_its_own_code(
    fake_qdrant: Callable[..., FakeQdrant],
) -> None:
    server = fake_qdrant(hang=True)
    store = QdrantClientStore(url=server.url, timeout=5, search_timeout=1, retries=2)

    with pytest.raises(VectorStoreTimeout) as failed:
        store.query(COLLECTION, VectorQuery(vector=unit(1, 0)))

    assert failed.value.code == "vector_store_timeout"
    assert failed.value.status == 503
    # A search is not tried again: it has spent the time a user waits.
    assert server.hits(f"POST /collections/{COLLECTION}/points/query/batch") == 1
    store.close()


def test_the_alias_flip_switches_what_a_query_through_it_reads(
    local: Callable[..., QdrantClientStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = local(search_alias=ALIAS)
    old, new = point(unit(1, 0)), point(unit(1, 0))
    store.upsert("images-old-4", [old])
    store.upsert("images-new-4", [new])
    calls = spy(monkeypatch, store, "update_collection_aliases")
    assert store.search_alias() is store
    assert store.search_collection() is None

    store.activate("images-old-4")
    before = store.query(ALIAS, VectorQuery(vector=unit(1, 0)))
    store.activate("images-new-4")
    after = store.query(ALIAS, VectorQuery(vector=unit(1, 0)))

    assert [h.id for h in before] == [old.id]
    assert [h.id for h in after] == [new.id]
    assert store.search_collection() == "images-new-4"
    # The switch is one request: the old alias goes and the new one comes together.
    operations = [call["change_aliases_operations"] for call in calls["update_collection_aliases"]]
    assert [type(op) for op in operations[1]] == [
        models.DeleteAliasOperation,
        models.CreateAliasOperation,
    ]
    # Aliases are not collections: writes that go to every collection skip them.
    assert store.collections() == ["images-new-4", "images-old-4"]


def test_an_alias_for_a_missing_collection_leaves_the_alias_as_it_was(
    local: Callable[..., QdrantClientStore],
) -> None:
    store = local(search_alias=ALIAS)
    store.ensure_collection("images-old-4", DIM)
    store.activate("images-old-4")

    with pytest.raises(VectorStoreUnavailable):
        store.activate("images-never-made-4")

    assert store.search_collection() == "images-old-4"


def test_a_store_without_an_alias_has_none(local: Callable[..., QdrantClientStore]) -> None:
    assert local().search_alias() is None
