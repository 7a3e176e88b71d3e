"""A model switch (`manage.py reindex`) goes through the one indexing path: images are
screened, tagged and stored by the new model, and every collection agrees with the rows.
Videos go through the one video path: each moment lands in the new collection once, the old
one keeps its points until the switch, and search finds the video at its moment after it."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from encoder import ClipEncoder, get_encoder, reset_encoder
from gallery.models import Image, ModerationDecision, VectorIndex, Video, VideoMoment
from gallery.moderation import concept_scores
from tests.factories import image_bytes, picture
from tests.support.models import ROOT, second_model
from tests.support.videos import FILM_LENGTHS, captioned_film
from vectorstore import Filter, HasId, Match, VectorStoreUnavailable, get_store

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


@pytest.fixture
def retrain(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`retrain()` points CLIP_MODEL at the demo model saved again under another name.

    A new model to the app (its own collection), that still understands the
    demo scenes: a search after the switch can tell whether the video is in it.
    """
    old = settings.CLIP_MODEL
    target = tmp_path_factory.mktemp("model") / "demo-clip-shapes-retrained"
    shutil.copytree(ROOT / old, target)

    def to_retrained() -> ClipEncoder:
        settings.CLIP_MODEL = str(target)
        return get_encoder()

    yield to_retrained
    settings.CLIP_MODEL = old
    reset_encoder()


@pytest.fixture
def film(tmp_path: Path) -> tuple[bytes, list[str]]:
    return captioned_film(tmp_path / "film.mp4")


def _indexed_video(post_video: Callable[..., Any], client: APIClient, data: bytes) -> str:
    """POST a video, index it after commit for real; its id."""
    response = post_video(client, data)
    assert response.status_code == 201, response.json()
    video_id: str = response.json()["id"]
    assert Video.objects.get(pk=video_id).status == Video.Status.INDEXED
    return video_id


def _moment_ids(video_id: str) -> list[Any]:
    return sorted(VideoMoment.objects.filter(video_id=video_id).values_list("point_id", flat=True))


def _points(collection: str, video_id: str) -> int:
    return get_store().count(collection, Filter(must=(Match("video", video_id),)))


def _holds(collection: str, ids: list[Any]) -> int:
    return get_store().count(collection, Filter(must=(HasId(tuple(ids)),)))


def _search(client: APIClient, query: str) -> list[dict[str, Any]]:
    body = {"query": query, "limit": 5, "mode": "semantic"}
    results: list[dict[str, Any]] = client.post("/api/search/", body, format="json").json()[
        "results"
    ]
    return results


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
    assert "Encoded 0 images and 0 videos, failed 0." in again
    assert "Search now reads" in again


def test_a_failed_image_keeps_the_old_index_active(
    alice_api: Any, upload: Any, switch: Any, isolated_storage: Path
) -> None:
    good = upload(alice_api, image_bytes(picture((0, 0, 200)))).json()["id"]
    broken = upload(alice_api, image_bytes(picture((200, 0, 0)))).json()["id"]
    old = get_encoder()
    (isolated_storage / (Image.objects.get(pk=broken).file.name or "")).write_bytes(b"garbage")
    switch()

    out = _reindex()

    assert "Search still reads the previous collection: 1 failed." in out
    assert VectorIndex.objects.get(state="active").collection == old.collection_name
    assert Image.objects.get(pk=good).status == Image.Status.INDEXED
    assert Image.objects.get(pk=broken).status == Image.Status.FAILED


def test_reindex_moves_each_video_moment_into_the_new_collection_and_search_finds_it(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
    retrain: Any,
) -> None:
    data, captions = film
    video_id = _indexed_video(post_video, alice_api, data)
    upload(alice_api, image_bytes(picture((250, 250, 250), shape="square")))
    old = get_encoder()
    moments = _moment_ids(video_id)
    assert _points(old.collection_name, video_id) == len(moments) >= len(FILM_LENGTHS)
    new = retrain()
    assert new.collection_name != old.collection_name

    out = _reindex()

    assert "Encoded 1 image and 1 video, failed 0." in out
    assert "Search now reads" in out
    assert VectorIndex.objects.get(state="active").collection == new.collection_name
    video = Video.objects.get(pk=video_id)
    assert (video.status, video.model_id, video.progress) == ("indexed", new.model_id, 1.0)
    # The same moments, each once in the new collection; the old one keeps all of
    # its points (search read them until the switch).
    assert _moment_ids(video_id) == moments
    assert video.moments_indexed == len(moments)
    for collection in (new.collection_name, old.collection_name):
        assert _points(collection, video_id) == _holds(collection, moments) == len(moments)
    # Search reads the new collection now and finds the video at the moment it describes.
    found = _search(alice_api, captions[1])
    assert found[0]["video"]["id"] == video_id
    best = found[0]["moments"][0]
    assert best["start"] < 5.0
    assert best["end"] > 2.0
    assert "Encoded 0 images and 0 videos, failed 0." in _reindex()


def test_an_interrupted_reindex_resumes_the_video_in_the_new_collection(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    switch: Any,
) -> None:
    data, captions = film
    video_id = _indexed_video(post_video, alice_api, data)
    old = get_encoder()
    moments = _moment_ids(video_id)
    new = switch()  # another dimension: the new collection cannot take the old vectors
    monkeypatch.setattr(new, "batch_size", 2)
    store = get_store()
    real_upsert = store.upsert
    writes = {"new": 0}

    def failing(collection: str, points: Any) -> None:
        if collection == new.collection_name:
            writes["new"] += 1
            if writes["new"] == 2:  # the store goes away after the first batch
                raise VectorStoreUnavailable("the store went away")
        real_upsert(collection, points)

    monkeypatch.setattr(store, "upsert", failing)
    with pytest.raises(CommandError, match="the store went away"):
        _reindex()

    halfway = Video.objects.get(pk=video_id)
    starts = sorted(VideoMoment.objects.filter(video_id=video_id).values_list("start", flat=True))
    assert halfway.status == "indexing"
    assert halfway.indexed_until == pytest.approx(starts[2])  # the first batch's end
    assert 0 < halfway.progress < 1
    assert _points(new.collection_name, video_id) == 2
    # Until the switch search reads the old collection, which still holds every moment.
    assert VectorIndex.objects.get(state="active").collection == old.collection_name
    assert _points(old.collection_name, video_id) == len(moments)
    assert _search(alice_api, captions[1])[0]["video"]["id"] == video_id
    monkeypatch.setattr(store, "upsert", real_upsert)
    encoded = {"new": 0, "old": 0}
    for name, encoder in (("new", new), ("old", old)):

        def counting(pictures: Any, real: Any = encoder.encode_images, name: str = name) -> Any:
            encoded[name] += len(pictures)
            return real(pictures)

        monkeypatch.setattr(encoder, "encode_images", counting)

    assert "Search now reads" in _reindex()

    # Resumed after the first batch: each remaining moment encoded once, by the new
    # model only (the old collection kept the vectors it held).
    assert encoded == {"new": len(moments) - 2, "old": 0}
    assert _moment_ids(video_id) == moments
    assert _points(new.collection_name, video_id) == _holds(new.collection_name, moments)
    assert _points(new.collection_name, video_id) == len(moments)
    assert Video.objects.get(pk=video_id).model_id == new.model_id


def test_a_video_that_fails_keeps_the_old_index_active(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    switch: Any,
    isolated_storage: Path,
) -> None:
    data, captions = film
    video_id = _indexed_video(post_video, alice_api, data)
    old = get_encoder()
    (isolated_storage / (Video.objects.get(pk=video_id).file.name or "")).write_bytes(b"garbage")
    switch()

    out = _reindex()

    assert "Encoded 0 images and 0 videos, failed 1." in out
    assert "Search still reads the previous collection: 1 failed." in out
    assert VectorIndex.objects.get(state="active").collection == old.collection_name
    assert Video.objects.get(pk=video_id).status == Video.Status.FAILED
    # Its moments are still where search reads.
    assert _search(alice_api, captions[1])[0]["video"]["id"] == video_id
