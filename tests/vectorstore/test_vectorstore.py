"""The adapter contract, run against both Qdrant implementations."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from vectorstore import (
    DateRange,
    EdgeStore,
    Filter,
    Match,
    MatchAny,
    QdrantClientStore,
    Range,
    VectorPoint,
    VectorStore,
)
from vectorstore.tuning import IndexTuning

DIM = 8
COLLECTION = "images-test-8"


@pytest.fixture(params=["edge", "edge-graph-int8", "qdrant-client-local", "qdrant-client-int8"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    opened: VectorStore
    int8 = IndexTuning(quantization="int8")
    if request.param == "edge":
        opened = EdgeStore(str(tmp_path / "edge"))
    elif request.param == "edge-graph-int8":
        opened = EdgeStore(str(tmp_path / "edge"), exact=False, tuning=int8)
    elif request.param == "qdrant-client-int8":
        opened = QdrantClientStore(path=str(tmp_path / "local"), tuning=int8)
    else:
        opened = QdrantClientStore(path=str(tmp_path / "local"))
    opened.ensure_collection(COLLECTION, DIM)
    yield opened
    opened.close()


def unit(values: list[float]) -> np.ndarray:
    v = np.asarray(values + [0.0] * (DIM - len(values)), dtype=np.float32)
    return v / np.linalg.norm(v)


def point(vector: np.ndarray, owner: str = "1", **payload: object) -> VectorPoint:
    base = {
        "owner": owner,
        "visibility": "private",
        "format": "PNG",
        "width": 10,
        "height": 10,
        "tags": [],
        "timestamp": "2024-06-01T00:00:00Z",
        "uploaded_at": "2024-06-01T00:00:00Z",
    }
    return VectorPoint(id=uuid.uuid4(), vector=vector, payload={**base, **payload})


def test_search_ranks_by_cosine_and_returns_scores(store: VectorStore) -> None:
    near, far = point(unit([1, 0.1])), point(unit([0, 1]))
    store.upsert(COLLECTION, [far, near])

    hits = store.search(COLLECTION, unit([1, 0]), limit=10)

    assert [h.id for h in hits] == [near.id, far.id]
    assert hits[0].score == pytest.approx(float(unit([1, 0.1]) @ unit([1, 0])), abs=1e-5)


def test_upsert_is_idempotent_by_id(store: VectorStore) -> None:
    p = point(unit([1, 0]))
    store.upsert(COLLECTION, [p])
    store.upsert(COLLECTION, [VectorPoint(id=p.id, vector=unit([0, 1]), payload=p.payload)])

    assert store.count(COLLECTION) == 1
    assert store.search(COLLECTION, unit([0, 1]), limit=1)[0].score == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(
        store.retrieve_vectors(COLLECTION, [p.id])[p.id], unit([0, 1]), atol=1e-5
    )


def test_access_filter_keeps_own_and_public_points_only(store: VectorStore) -> None:
    mine = point(unit([1, 0]), owner="1")
    theirs_public = point(unit([1, 0.2]), owner="2", visibility="public")
    theirs_private = point(unit([1, 0.1]), owner="2")
    store.upsert(COLLECTION, [mine, theirs_public, theirs_private])
    scope = Filter(should=(Match("owner", "1"), Match("visibility", "public")))

    hits = store.search(COLLECTION, unit([1, 0]), limit=10, filter=Filter(must=(scope,)))

    assert {h.id for h in hits} == {mine.id, theirs_public.id}


def test_keyword_integer_and_datetime_conditions(store: VectorStore) -> None:
    old = point(
        unit([1]),
        format="JPEG",
        width=4000,
        tags=["beach", "dog"],
        timestamp="2019-05-01T10:00:00Z",
    )
    new = point(
        unit([1, 1]), format="PNG", width=640, tags=["city"], timestamp="2024-05-01T10:00:00Z"
    )
    store.upsert(COLLECTION, [old, new])

    def ids(flt: Filter) -> set[uuid.UUID]:
        return {h.id for h in store.search(COLLECTION, unit([1]), limit=10, filter=flt)}

    assert ids(Filter(must=(Match("format", "JPEG"),))) == {old.id}
    assert ids(Filter(must=(MatchAny("tags", ("dog", "cat")),))) == {old.id}
    assert ids(Filter(must_not=(Match("tags", "city"),))) == {old.id}
    assert ids(Filter(must=(Range("width", gte=1000),))) == {old.id}
    since = DateRange("timestamp", gte=datetime(2020, 1, 1, tzinfo=UTC))
    assert ids(Filter(must=(since,))) == {new.id}


def test_set_payload_and_delete_apply_everywhere(store: VectorStore) -> None:
    p = point(unit([1]))
    store.upsert(COLLECTION, [p])
    store.ensure_collection("images-other-8", DIM)
    store.upsert("images-other-8", [VectorPoint(id=p.id, vector=unit([1]), payload=p.payload)])

    store.set_payload([p.id], {"visibility": "public"})
    public = Filter(must=(Match("visibility", "public"),))
    assert store.count(COLLECTION, public) == 1
    assert store.count("images-other-8", public) == 1

    store.delete([p.id])
    assert store.count(COLLECTION) == 0
    assert store.count("images-other-8") == 0


def test_set_payload_and_delete_skip_collections_that_lack_the_id(store: VectorStore) -> None:
    """During a model switch the new collection lacks most images: updating one must
    reach the collection that holds it and not fail on the one that does not."""
    old_only = point(unit([1]))
    other = point(unit([0, 1]))
    store.upsert(COLLECTION, [old_only])
    store.ensure_collection("images-new-8", DIM)
    store.upsert("images-new-8", [other])
    public = Filter(must=(Match("visibility", "public"),))

    store.set_payload([old_only.id], {"visibility": "public"})
    store.set_payload([uuid.uuid4(), other.id], {"visibility": "public"})  # one id held nowhere

    assert store.count(COLLECTION, public) == 1
    assert store.count("images-new-8", public) == 1
    store.delete([old_only.id, uuid.uuid4()])
    assert store.count(COLLECTION) == 0
    assert store.count("images-new-8") == 1


def test_only_the_embedded_store_needs_graph_maintenance(tmp_path: Path) -> None:
    edge = EdgeStore(str(tmp_path / "edge"))
    local = QdrantClientStore(path=str(tmp_path / "local"))

    graphs = edge.maintenance()
    assert graphs is not None
    assert graphs.indexed_vectors("images-nothing-8") == 0
    assert local.maintenance() is None  # a server optimises itself
    edge.close()
    local.close()


def test_unknown_collection_searches_empty(store: VectorStore) -> None:
    assert store.search("images-nothing-8", unit([1]), limit=5) == []
    assert store.count("images-nothing-8") == 0


def test_pagination_with_offset_is_stable(store: VectorStore) -> None:
    rng = np.random.default_rng(0)
    store.upsert(COLLECTION, [point(unit(list(rng.normal(size=DIM)))) for _ in range(30)])
    query = unit([1, 1, 1])

    everything = [h.id for h in store.search(COLLECTION, query, limit=30)]
    pages = [
        h.id for k in range(3) for h in store.search(COLLECTION, query, limit=10, offset=10 * k)
    ]

    assert pages == everything


def test_embedded_store_allows_one_opener(tmp_path: Path) -> None:
    from vectorstore import VectorStoreUnavailable

    first = EdgeStore(str(tmp_path))
    first.ensure_collection(COLLECTION, DIM)
    second = EdgeStore(str(tmp_path))
    try:
        with pytest.raises(VectorStoreUnavailable, match="Only one process"):
            second.ensure_collection(COLLECTION, DIM)
    finally:
        first.close()


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "graph"])
def test_filtered_query_returns_every_match_after_hnsw_build(tmp_path: Path, exact: bool) -> None:
    """A plain HNSW graph with a 1% filter silently drops matches; exact search never
    does, and neither does the graph with the tenant index, payload links and the
    small-filter scan (IndexTuning's defaults)."""
    rng = np.random.default_rng(1)
    # A full-scan threshold of 1 KB keeps the graph in play even for 30 matches.
    tuning = IndexTuning(full_scan_threshold_kb=1)
    edge = EdgeStore(str(tmp_path), exact=exact, tuning=tuning, indexing_threshold_kb=1)
    dim = 32
    vectors = rng.normal(size=(3000, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = [
        VectorPoint(
            id=uuid.uuid4(), vector=v, payload={"owner": "rare" if i % 100 == 0 else "common"}
        )
        for i, v in enumerate(vectors)
    ]
    for start in range(0, len(points), 500):
        edge.upsert("images-big-32", points[start : start + 500])
    edge.maintenance().optimize("images-big-32")
    assert edge.maintenance().indexed_vectors("images-big-32") > 0  # the graph was really built

    hits = edge.search(
        "images-big-32", vectors[5], limit=100, filter=Filter(must=(Match("owner", "rare"),))
    )

    assert len(hits) == 30
    assert {h.id for h in hits} == {p.id for p in points if p.payload["owner"] == "rare"}
    edge.close()


def test_iter_ids_pages_through_every_point(store: VectorStore) -> None:
    points = [point(unit([1, float(i)])) for i in range(25)]
    store.upsert(COLLECTION, points)

    assert set(store.iter_ids(COLLECTION, batch=7)) == {p.id for p in points}
    assert list(store.iter_ids("images-nothing-8")) == []


def test_recommend_and_batched_queries(store: VectorStore) -> None:
    from vectorstore import VectorQuery

    red_circle, blue_circle, red_square = (
        point(unit([1, 1, 0])),
        point(unit([1, 0, 1])),
        point(unit([0, 1, 0.1])),
    )
    store.upsert(COLLECTION, [red_circle, blue_circle, red_square])
    circle, red = unit([1]), unit([0, 1])

    nearest, steered = store.query_batch(
        COLLECTION,
        [
            VectorQuery(vector=circle, limit=3),
            VectorQuery(
                positives=(circle,),
                negatives=(red,),
                strategy="sum_scores",
                limit=3,
                with_vectors=True,
            ),
        ],
    )

    assert nearest[0].id in {red_circle.id, blue_circle.id}
    assert steered[0].id == blue_circle.id
    assert steered[0].vector is not None
    thresholded = store.query(COLLECTION, VectorQuery(vector=circle, limit=3, score_threshold=0.5))
    assert {h.id for h in thresholded} == {red_circle.id, blue_circle.id}


def _unit_points(rng: np.random.Generator, count: int, dim: int) -> list[VectorPoint]:
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [VectorPoint(id=uuid.uuid4(), vector=v, payload={}) for v in vectors]


def test_a_background_graph_build_keeps_search_and_writes_going(tmp_path: Path) -> None:
    """The graph is built in a child process on a copy; searches run meanwhile, and
    writes made during the build are in the swapped-in shard."""
    rng = np.random.default_rng(2)
    dim = 32
    edge = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1)
    vectors = rng.normal(size=(3000, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = [VectorPoint(id=uuid.uuid4(), vector=v, payload={"owner": "1"}) for v in vectors]
    for start in range(0, len(points), 500):
        edge.upsert("images-bg-32", points[start : start + 500])

    build = edge.maintenance().build_in_background("images-bg-32")
    searched = 0
    late = [
        VectorPoint(id=uuid.uuid4(), vector=vectors[i], payload={"owner": "2"}) for i in range(20)
    ]
    while build.is_alive() or searched == 0:
        assert len(edge.search("images-bg-32", vectors[searched % 3000], limit=5)) == 5
        if searched < len(late):
            edge.upsert("images-bg-32", [late[searched]])
        searched += 1
    build.join()
    edge.delete([points[0].id])

    graphs = edge.maintenance()
    assert graphs.indexed_vectors("images-bg-32") > 0  # the graph was built and swapped in
    assert edge.count("images-bg-32") == 3000 + min(searched, len(late)) - 1
    assert edge.count("images-bg-32", Filter(must=(Match("owner", "2"),))) == min(searched, 20)
    assert edge.collections() == ["images-bg-32"]
    edge.close()


def test_payload_set_during_a_background_build_is_in_the_swapped_in_shard(
    tmp_path: Path,
) -> None:
    """The journal replays a payload change (selected by a filter) on the built copy,
    after the upsert of the point it changes, as the live shard applied them."""
    rng = np.random.default_rng(7)
    edge = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1)
    points = _unit_points(rng, 1200, 16)
    edge.upsert("images-journal-16", points)
    late = _unit_points(rng, 1, 16)[0]
    public = Filter(must=(Match("visibility", "public"),))

    build = edge.maintenance().build_in_background("images-journal-16")
    deadline = time.monotonic() + 60
    while not edge._shards.is_journaling("images-journal-16") and time.monotonic() < deadline:
        time.sleep(0.01)
    edge.upsert("images-journal-16", [late])
    edge.set_payload([points[0].id, late.id], {"visibility": "public"})
    assert edge._shards.is_journaling("images-journal-16")  # so the writes were journaled
    build.join()

    assert edge.maintenance().indexed_vectors("images-journal-16") > 0  # swapped in
    assert edge.count("images-journal-16") == 1201
    assert edge.count("images-journal-16", public) == 2
    edge.close()


def test_background_builds_start_by_themselves_past_a_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    edge = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1, background_build_min=1000)
    points = _unit_points(rng, 1200, 16)

    for start in range(0, 1200, 400):
        edge.upsert("images-auto-16", points[start : start + 400])
    edge.close()  # waits for the build it started

    reopened = EdgeStore(str(tmp_path))
    assert reopened.maintenance().indexed_vectors("images-auto-16") > 0
    assert reopened.count("images-auto-16") == 1200
    reopened.close()


def test_points_with_a_lexical_side_get_their_graph_too(tmp_path: Path) -> None:
    # The engine counts each sparse vector as indexed the moment it is written:
    # the build must still see that no CLIP vector is in a graph yet.
    from dataclasses import replace

    from vectorstore.lexical import Lexicon

    words = Lexicon("english")
    rng = np.random.default_rng(6)
    edge = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1, background_build_min=1000)
    points = [
        replace(p, lexical=words.document(f"sign {n} gate b{n % 40}"))
        for n, p in enumerate(_unit_points(rng, 1200, 16))
    ]
    edge.upsert("images-words-16", points[:600])
    assert edge.maintenance().indexed_vectors("images-words-16") == 0

    edge.upsert("images-words-16", points[600:])

    _wait_until_indexed(edge, "images-words-16", 1200)
    edge.close()


def _wait_until_indexed(edge: EdgeStore, collection: str, count: int) -> None:
    deadline = time.monotonic() + 120
    graphs = edge.maintenance()
    while graphs.indexed_vectors(collection) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert graphs.indexed_vectors(collection) == count


def test_points_written_during_a_build_get_a_build_of_their_own(tmp_path: Path) -> None:
    """An import that outruns a build is not left scanned once it ends."""
    rng = np.random.default_rng(4)
    edge = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1, background_build_min=1000)
    points = _unit_points(rng, 2400, 16)
    edge.upsert("images-chain-16", points[:1200])  # due: a build starts
    deadline = time.monotonic() + 60
    while not edge._shards.is_journaling("images-chain-16") and time.monotonic() < deadline:
        time.sleep(0.01)  # the build has copied the shard: later writes are not in it
    edge.upsert("images-chain-16", points[1200:])

    _wait_until_indexed(edge, "images-chain-16", 2400)
    assert edge.count("images-chain-16") == 2400
    edge.close()


def test_a_reopened_store_builds_its_unindexed_points_at_the_first_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    writer = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1)  # never builds
    points = _unit_points(rng, 1500, 16)
    writer.upsert("images-reopen-16", points)
    assert writer.maintenance().indexed_vectors("images-reopen-16") == 0
    writer.close()

    server = EdgeStore(
        str(tmp_path), exact=False, indexing_threshold_kb=1, background_build_min=1000
    )
    assert server.count("images-reopen-16") == 1500
    assert not server.maintenance()._builds  # opening it to count starts nothing
    assert len(server.search("images-reopen-16", points[0].vector, limit=3)) == 3  # a search does

    _wait_until_indexed(server, "images-reopen-16", 1500)
    server.close()


def test_wait_for_graph_returns_once_every_point_is_in_the_graph(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    edge = EdgeStore(str(tmp_path), exact=False, indexing_threshold_kb=1)
    edge.upsert("images-wait-16", _unit_points(rng, 1500, 16))

    graphs = edge.maintenance()
    graphs.wait_for_graph("images-wait-16")

    assert graphs.indexed_vectors("images-wait-16") == 1500
    graphs.wait_for_graph("images-wait-16")  # nothing left: returns at once
    edge.close()


def test_a_swap_cut_off_midway_leaves_the_old_shard_in_use(tmp_path: Path) -> None:
    edge = EdgeStore(str(tmp_path))
    edge.upsert("images-swap-8", [point(unit([1.0]))])
    edge.close()
    (tmp_path / "images-swap-8").rename(tmp_path / ".old-images-swap-8")  # as a crash would

    reopened = EdgeStore(str(tmp_path))

    assert reopened.collections() == ["images-swap-8"]
    assert reopened.count("images-swap-8") == 1
    reopened.close()


def test_segment_size_and_graph_settings_reach_the_engine(tmp_path: Path) -> None:
    tuning = IndexTuning(hnsw_m=24, payload_m=8, max_segment_kb=123_456)
    edge = EdgeStore(str(tmp_path), exact=False, tuning=tuning)
    edge.ensure_collection(COLLECTION, DIM)
    edge.close()

    saved = json.loads((tmp_path / COLLECTION / "edge_config.json").read_text())

    assert saved["optimizers"]["max_segment_size"] == 123_456
    assert (saved["hnsw_config"]["m"], saved["hnsw_config"]["payload_m"]) == (24, 8)


def test_graph_links_only_for_fields_searched_on_their_own(tmp_path: Path) -> None:
    """Links for the access fields every search carries (and for rare filters) would
    cost another graph build each; the owner, tags and dates keep theirs."""
    edge = EdgeStore(str(tmp_path), exact=False)
    edge.ensure_collection(COLLECTION, DIM)

    graphs = edge.maintenance()
    assert graphs.graph_linked_fields(COLLECTION) == {"owner", "tags", "uploaded_at", "taken_at"}
    edge.close()


@pytest.fixture(params=["edge", "qdrant-client-local"])
def exact_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    opened: VectorStore = (
        EdgeStore(str(tmp_path / "edge"))
        if request.param == "edge"
        else QdrantClientStore(path=str(tmp_path / "local"))
    )
    opened.ensure_collection(COLLECTION, DIM)
    yield opened
    opened.close()


def _best_groups(
    points: list[VectorPoint], query: np.ndarray, *, limit: int, size: int
) -> list[list[uuid.UUID]]:
    """Brute force: every point by cosine, grouped, the best `limit` groups' best `size`."""
    ranked = sorted(points, key=lambda p: -float(p.vector @ query))
    groups: dict[str, list[uuid.UUID]] = {}
    for p in ranked:
        groups.setdefault(str(p.payload.get("group", p.id)), []).append(p.id)
    return [members[:size] for members in list(groups.values())[:limit]]


def test_a_grouped_query_returns_the_best_groups_each_with_its_best_hits(
    exact_store: VectorStore,
) -> None:
    from vectorstore import VectorQuery

    rng = np.random.default_rng(3)
    points = [point(p.vector, group=f"g{n % 7}") for n, p in enumerate(_unit_points(rng, 60, DIM))]
    # Points of one group scattered through the ranking, and one group of a single point.
    points.append(point(unit([1, 1, 1, 1]), group="alone"))
    exact_store.upsert(COLLECTION, points)
    queries = [np.asarray(rng.normal(size=DIM), dtype=np.float32) for _ in range(3)]
    queries = [q / np.linalg.norm(q) for q in queries]

    answers = exact_store.query_batch(
        COLLECTION,
        [VectorQuery(vector=q, limit=4, group_size=3) for q in queries]
        + [VectorQuery(vector=queries[0], limit=5)],  # a plain one in the same batch
    )

    for q, hits in zip(queries, answers[:3], strict=True):
        expected = _best_groups(points, q, limit=4, size=3)
        assert [h.id for h in hits] == [i for members in expected for i in members]
        assert all(h.payload is not None and "group" in h.payload for h in hits)
    plain = sorted(points, key=lambda p: -float(p.vector @ queries[0]))[:5]
    assert [h.id for h in answers[-1]] == [p.id for p in plain]


def test_a_point_written_without_a_group_is_a_group_of_its_own(
    exact_store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorstore import VectorQuery

    legacy = point(unit([1, 0.1]))  # written before points had groups
    moments = [point(unit([1, 0.2 * n]), group="video") for n in range(1, 4)]
    exact_store.upsert(COLLECTION, [legacy, *moments])
    query = VectorQuery(vector=unit([1]), limit=2, group_size=2)
    server_groups = []
    if isinstance(exact_store, QdrantClientStore):
        real = exact_store.client.query_points_groups

        def counted(*args: object, **kwargs: object) -> object:
            server_groups.append(kwargs["group_by"])
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(exact_store.client, "query_points_groups", counted)

    hits = exact_store.query(COLLECTION, query)

    assert [h.id for h in hits] == [legacy.id, moments[0].id, moments[1].id]
    assert server_groups == []  # the server would leave the legacy point out
    exact_store.upsert(COLLECTION, [VectorPoint(legacy.id, legacy.vector, {"group": "own"})])
    assert [h.id for h in exact_store.query(COLLECTION, query)] == [h.id for h in hits]
    if isinstance(exact_store, QdrantClientStore):
        assert server_groups == ["group"]  # every point has one now: Qdrant groups


def test_a_group_that_crowds_the_top_does_not_hide_the_next_groups(
    exact_store: VectorStore,
) -> None:
    from vectorstore import VectorQuery

    crowd = [point(unit([1, 0.01 * n]), group="long video") for n in range(30)]
    other = point(unit([1, 1]), group="image")
    exact_store.upsert(COLLECTION, [*crowd, other])

    hits = exact_store.query(COLLECTION, VectorQuery(vector=unit([1]), limit=2, group_size=1))

    assert [h.id for h in hits] == [crowd[0].id, other.id]
