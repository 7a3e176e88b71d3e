"""Which index search reads: asked of the database once per process and `SEARCH_INDEX_TTL`,
and a switch is seen at once in the process that made it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from encoder import ClipEncoder, get_encoder, reset_encoder
from gallery import indexes
from gallery.indexes import index_activate, index_for, search_encoder
from gallery.models import VectorIndex
from tests.support.models import second_model


@pytest.fixture
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipEncoder]:
    """A second model, loaded beside CLIP_MODEL (as during a switch), with its index row."""
    encoder = get_encoder(str(second_model(tmp_path_factory.mktemp("model"))))
    VectorIndex.objects.create(
        model_name=encoder.model_name,
        model_id=encoder.model_id,
        collection=encoder.collection_name,
        dim=encoder.dim,
    )
    yield encoder
    reset_encoder()


def _activate_elsewhere(index: VectorIndex) -> None:
    """What another process's switch looks like to this one: rows change, no signal."""
    VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).update(
        state=VectorIndex.State.RETIRED
    )
    VectorIndex.objects.filter(pk=index.pk).update(state=VectorIndex.State.ACTIVE)


@pytest.mark.django_db(transaction=True)
def test_search_index_is_read_once_and_a_switch_here_is_seen_at_once(
    second: ClipEncoder, django_assert_num_queries: Any
) -> None:
    configured = get_encoder()
    index_for(configured)
    assert search_encoder() is configured
    with django_assert_num_queries(0):
        assert search_encoder() is configured

    index_activate(VectorIndex.objects.get(collection=second.collection_name))

    assert search_encoder() is second


@pytest.mark.django_db(transaction=True)
def test_a_switch_in_another_process_is_seen_within_the_ttl(
    second: ClipEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = get_encoder()
    index_for(configured)
    assert search_encoder() is configured
    _activate_elsewhere(VectorIndex.objects.get(collection=second.collection_name))

    assert search_encoder() is configured  # this process still trusts what it read
    later = indexes.time.monotonic() + indexes.SEARCH_INDEX_TTL
    monkeypatch.setattr(indexes.time, "monotonic", lambda: later)
    assert search_encoder() is second


@pytest.mark.django_db
def test_search_index_read_inside_a_transaction_is_not_kept(second: ClipEncoder) -> None:
    # pytest-django runs this test in a transaction, as a request in ATOMIC_REQUESTS would.
    configured = get_encoder()
    index_for(configured)
    assert search_encoder() is configured
    _activate_elsewhere(VectorIndex.objects.get(collection=second.collection_name))

    assert search_encoder() is second


@pytest.mark.django_db(transaction=True)
def test_a_change_while_the_index_is_looked_up_is_not_overwritten(
    second: ClipEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = get_encoder()
    index_for(configured)
    looked_up = indexes.index_for

    def switch_meanwhile(encoder: ClipEncoder) -> VectorIndex:
        # The lookup has read "no active index"; a switch lands before it keeps its answer.
        index = looked_up(encoder)
        index_activate(VectorIndex.objects.get(collection=second.collection_name))
        return index

    VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).update(
        state=VectorIndex.State.BUILDING
    )
    monkeypatch.setattr(indexes, "index_for", switch_meanwhile)
    assert search_encoder() is configured  # what it read before the switch
    monkeypatch.setattr(indexes, "index_for", looked_up)

    assert search_encoder() is second
