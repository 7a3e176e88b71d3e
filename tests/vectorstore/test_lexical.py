"""The lexical side of the adapter contract: sparse vectors beside CLIP's, fused in the store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import QdrantClient, models

from vectorstore import (
    EdgeStore,
    Filter,
    GeoBox,
    GeoRadius,
    LexicalPoint,
    Match,
    Phrase,
    QdrantClientStore,
    VectorPoint,
    VectorQuery,
    VectorStore,
)
from vectorstore.base import TEXT_FIELD
from vectorstore.lexical import Lexicon

DIM = 8
COLLECTION = "images-lexical-8"
WORDS = Lexicon("english")


@pytest.fixture(params=["edge", "edge-graph-int8", "qdrant-client-local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    from vectorstore.tuning import IndexTuning

    opened: VectorStore
    if request.param == "edge":
        opened = EdgeStore(str(tmp_path / "edge"))
    elif request.param == "edge-graph-int8":
        opened = EdgeStore(
            str(tmp_path / "edge"), exact=False, tuning=IndexTuning(quantization="int8")
        )
    else:
        opened = QdrantClientStore(path=str(tmp_path / "local"))
    opened.ensure_collection(COLLECTION, DIM)
    yield opened
    opened.close()


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def point(seed: int, text: str, owner: str = "1", **payload: object) -> VectorPoint:
    return VectorPoint(
        id=uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}"),
        vector=unit(seed),
        payload={"owner": owner, "visibility": "private", TEXT_FIELD: text, **payload},
        lexical=WORDS.document(text),
    )


def ids(hits: list) -> list[uuid.UUID]:  # type: ignore[type-arg]
    return [h.id for h in hits]


def test_words_rank_by_bm25_with_the_stores_idf(store: VectorStore) -> None:
    invoice = point(1, "invoice 2024 from the print shop")
    gate = point(2, "gate B12 departures")
    both = point(3, "invoices at gate B12")
    store.upsert(COLLECTION, [invoice, gate, both, point(4, "a dog on a beach")])

    hits = store.query(COLLECTION, VectorQuery(lexical=WORDS.query("invoice"), limit=10))

    # Stemmed: "invoices" is the term "invoice"; a point without it is no hit.
    assert set(ids(hits)) == {invoice.id, both.id}
    # "gate" and "b12" hold two of four points, "2024" one: a rarer word weighs more.
    hits = store.query(COLLECTION, VectorQuery(lexical=WORDS.query("2024 gate"), limit=10))
    assert ids(hits)[0] == invoice.id
    assert set(ids(hits)) == {invoice.id, gate.id, both.id}


def test_fusion_ranks_what_both_sides_found_first(store: VectorStore) -> None:
    # Point 5's vector is the query's, but it lacks the word; point 6 has the
    # word but a far vector; point 7 is both near and has the word.
    near = point(5, "a red circle")
    worded = point(6, "lisbon tram")
    both = VectorPoint(
        id=uuid.uuid4(),
        vector=unit(5) + 0.05 * unit(9),
        payload={"owner": "1", TEXT_FIELD: "lisbon harbour"},
        lexical=WORDS.document("lisbon harbour"),
    )
    store.upsert(COLLECTION, [near, worded, both, point(8, "porto bridge")])
    query = VectorQuery(vector=unit(5), lexical=WORDS.query("lisbon"), limit=4)

    fused = ids(store.query(COLLECTION, query))

    assert fused[0] == both.id
    assert set(fused[:3]) == {both.id, near.id, worded.id}


def test_ranks_swapped_between_the_sides_are_ordered_by_the_picture_on_every_call(
    store: VectorStore,
) -> None:
    # `nearer` is CLIP's first and the words' second, `wordier` the reverse: an
    # equal sum of reciprocal ranks, which the engine alone orders by hash.
    nearer = VectorPoint(
        id=uuid.uuid4(),
        vector=unit(5) + 0.05 * unit(9),
        payload={"owner": "1", TEXT_FIELD: "lisbon harbour at dusk with boats and gulls"},
        lexical=WORDS.document("lisbon harbour at dusk with boats and gulls"),
    )
    wordier = VectorPoint(
        id=uuid.uuid4(),
        vector=unit(5) + 0.3 * unit(9),
        payload={"owner": "1", TEXT_FIELD: "lisbon"},
        lexical=WORDS.document("lisbon"),
    )
    store.upsert(COLLECTION, [nearer, wordier, point(8, "porto bridge")])
    query = VectorQuery(vector=unit(5), lexical=WORDS.query("lisbon"), limit=2)

    orders = {tuple(ids(store.query(COLLECTION, query))) for _ in range(30)}

    assert orders == {(nearer.id, wordier.id)}


def test_each_side_of_a_fused_query_stays_inside_the_filter(store: VectorStore) -> None:
    mine = point(10, "gate B12", owner="1")
    theirs = point(11, "gate B12", owner="2")
    store.upsert(COLLECTION, [mine, theirs])
    only_mine = Filter(must=(Match("owner", "1"),))

    for query in (
        VectorQuery(lexical=WORDS.query("gate"), filter=only_mine, limit=10),
        VectorQuery(vector=unit(11), lexical=WORDS.query("gate"), filter=only_mine, limit=10),
    ):
        assert ids(store.query(COLLECTION, query)) == [mine.id]


def test_a_phrase_must_appear_as_written(store: VectorStore) -> None:
    right = point(12, "Gate B12 closes at noon")
    apart = point(13, "B12 is not the gate")
    store.upsert(COLLECTION, [right, apart])
    phrase = Filter(must=(Phrase(TEXT_FIELD, "gate b12"),))

    hits = store.query(
        COLLECTION, VectorQuery(vector=unit(13), lexical=WORDS.query("gate b12"), filter=phrase)
    )

    assert ids(hits) == [right.id]


def test_geo_radius_and_box(store: VectorStore) -> None:
    lisbon = point(14, "", geo={"lat": 38.7223, "lon": -9.1393})
    porto = point(15, "", geo={"lat": 41.1579, "lon": -8.6291})
    nowhere = point(16, "")
    store.upsert(COLLECTION, [lisbon, porto, nowhere])

    near_lisbon = Filter(must=(GeoRadius("geo", lat=38.75, lon=-9.15, meters=20_000),))
    portugal = Filter(must=(GeoBox("geo", north=42.2, west=-9.6, south=36.9, east=-6.1),))

    assert ids(store.query(COLLECTION, VectorQuery(vector=unit(1), filter=near_lisbon))) == [
        lisbon.id
    ]
    boxed = store.query(COLLECTION, VectorQuery(vector=unit(1), filter=portugal))
    assert set(ids(boxed)) == {lisbon.id, porto.id}


def test_set_lexical_replaces_the_words_where_the_point_is_held(store: VectorStore) -> None:
    p = point(17, "old caption")
    store.upsert(COLLECTION, [p])
    store.ensure_collection("images-other-8", DIM)  # holds no such point: skipped

    store.set_lexical(
        [
            LexicalPoint(p.id, WORDS.document("new caption"), {TEXT_FIELD: "new caption"}),
            LexicalPoint(uuid.uuid4(), WORDS.document("absent"), {TEXT_FIELD: "absent"}),
        ]
    )

    assert store.query(COLLECTION, VectorQuery(lexical=WORDS.query("old"))) == []
    hits = store.query(COLLECTION, VectorQuery(lexical=WORDS.query("new"), with_payload=True))
    assert ids(hits) == [p.id]
    assert hits[0].payload is not None
    assert hits[0].payload[TEXT_FIELD] == "new caption"
    # The dense vector is untouched, and comes back as before.
    assert np.allclose(store.retrieve_vectors(COLLECTION, [p.id])[p.id], p.vector, atol=1e-2)


def test_a_hit_carries_its_dense_vector_when_asked(store: VectorStore) -> None:
    p = point(18, "words")
    store.upsert(COLLECTION, [p])

    (hit,) = store.query(
        COLLECTION, VectorQuery(vector=unit(18), lexical=WORDS.query("words"), with_vectors=True)
    )

    assert hit.vector is not None
    assert float(hit.vector @ p.vector) == pytest.approx(1, abs=1e-2)


def test_collections_made_before_the_lexical_side_gain_it(tmp_path: Path) -> None:
    old_id = uuid.uuid4()
    edge_dir = tmp_path / "edge" / COLLECTION
    edge_dir.mkdir(parents=True)
    shard = qe.EdgeShard.create(
        str(edge_dir),
        qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)),
    )
    shard.update(qe.UpdateOperation.upsert_points([qe.Point(old_id, unit(0).tolist(), {})]))
    shard.close()
    client = QdrantClient(path=str(tmp_path / "local"))
    client.create_collection(
        COLLECTION, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    client.upsert(COLLECTION, [models.PointStruct(id=str(old_id), vector=unit(0).tolist())])
    client.close()

    for store in (
        EdgeStore(str(tmp_path / "edge")),
        QdrantClientStore(path=str(tmp_path / "local")),
    ):
        store.ensure_collection(COLLECTION, DIM)
        store.set_lexical([LexicalPoint(old_id, WORDS.document("backfilled words"), {})])
        new = point(19, "fresh words")
        store.upsert(COLLECTION, [new])
        hits = store.query(COLLECTION, VectorQuery(lexical=WORDS.query("words")))
        assert set(ids(hits)) == {old_id, new.id}, store
        store.close()
