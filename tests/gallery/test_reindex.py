"""A model switch (`manage.py reindex`) goes through the one indexing path: images are
screened, tagged and stored by the new model, and every collection agrees with the rows."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from encoder import ClipEncoder, get_encoder, reset_encoder
from gallery.models import Image, ModerationDecision, VectorIndex
from gallery.moderation import concept_scores
from tests.factories import image_bytes, picture
from tests.support.models import second_model
from vectorstore import Filter, HasId, Match, get_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`switch()` points CLIP_MODEL at a second model; the old one comes back afterwards."""
    old = settings.CLIP_MODEL
    target = second_model(tmp_path_factory.mktemp("model"))

    def to_second() -> ClipEncoder:
        settings.CLIP_MODEL = str(target)
        return get_encoder()

    yield to_second
    settings.CLIP_MODEL = old
    reset_encoder()


def _reindex() -> str:
    out = io.StringIO()
    call_command("reindex", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_reindex_screens_each_image_with_the_new_model(
    alice_api: Any, bob_api: Any, upload: Any, settings: Any, switch: Any
) -> None:
    image_id = upload(alice_api, image_bytes(picture()), visibility="public").json()["id"]
    old = get_encoder()
    assert Image.objects.get(pk=image_id).moderation == ""
    # From now on every image matches the concept, whichever model looks at it.
    settings.MODERATION_CONCEPTS = {"anything at all": -1.0}
    settings.MODERATION_QUERY_MARGIN = 10.0  # but no query does
    new = switch()

    assert "Search now reads" in _reindex()

    image = Image.objects.get(pk=image_id)
    assert image.moderation == Image.Moderation.FLAGGED
    assert ModerationDecision.objects.get(image=image).decided_by is None
    # The reason is the new model's cosine to the concept, not the old one's.
    store = get_store()
    vector = store.retrieve_vectors(new.collection_name, [image.pk])[image.pk]
    ((_, cosine, _),) = concept_scores(new, vector)
    assert re.search(rf"cosine {cosine:.3f}\b", image.moderation_reason)
    old_vector = store.retrieve_vectors(old.collection_name, [image.pk])[image.pk]
    ((_, old_cosine, _),) = concept_scores(old, old_vector)
    assert f"{old_cosine:.3f}" != f"{cosine:.3f}"
    # Hidden from others in the collection search reads now, and in the old one.
    assert VectorIndex.objects.get(state="active").collection == new.collection_name
    for collection in (new.collection_name, old.collection_name):
        hidden = Filter(must=(HasId((image.pk,)), Match("hidden", 1)))
        assert store.count(collection, hidden) == 1
    found = bob_api.post("/api/search/", {"query": "x", "limit": 100}, format="json").json()
    assert image_id not in {r["image"]["id"] for r in found["results"]}


def test_reindex_tags_with_the_new_model_and_resumes(
    alice_api: Any, upload: Any, settings: Any, switch: Any
) -> None:
    settings.AUTO_TAG_LABELS = ["red", "green", "blue"]
    settings.AUTO_TAG_MIN_PROBABILITY = 0.0
    ids = [
        upload(alice_api, image_bytes(picture(colour))).json()["id"]
        for colour in ((200, 0, 0), (0, 200, 0))
    ]
    new = switch()
    _reindex()

    rows = Image.objects.filter(pk__in=ids)
    assert {row.model_id for row in rows} == {new.model_id}
    # Tags are the new model's, and the new collection's payload carries them.
    store = get_store()
    for row in rows:
        assert row.tags
        tagged = Filter(must=(HasId((row.pk,)), Match("tags", row.tags[0])))
        assert store.count(new.collection_name, tagged) == 1
    # Run again: nothing is left to encode, and the index stays active.
    again = _reindex()
    assert "Encoded 0, failed 0." in again
    assert "Search now reads" in again


def test_a_failed_image_keeps_the_old_index_active(
    alice_api: Any, upload: Any, switch: Any, isolated_storage: Path
) -> None:
    good = upload(alice_api, image_bytes(picture((0, 0, 200)))).json()["id"]
    broken = upload(alice_api, image_bytes(picture((200, 0, 0)))).json()["id"]
    old = get_encoder()
    (isolated_storage / Image.objects.get(pk=broken).file.name).write_bytes(b"garbage")
    switch()

    out = _reindex()

    assert "Search still reads the previous collection: 1 failed." in out
    assert VectorIndex.objects.get(state="active").collection == old.collection_name
    assert Image.objects.get(pk=good).status == Image.Status.INDEXED
    assert Image.objects.get(pk=broken).status == Image.Status.FAILED
