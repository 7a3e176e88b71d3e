"""Resolve which model and collection search and indexing use (see `VectorIndex`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from encoder.clip import ClipEncoder, get_encoder
from gallery.models import VectorIndex
from vectorstore import search_alias

# How long a process trusts its answer to "which index does search read".
# A switch made in this process clears it at once (`forget_search_index`, on
# every save or delete of an index row); one made in another process
# (`manage.py reindex`, a worker) is seen within this time, meanwhile search
# reads the retired collection, which is whole: collections are never dropped.
SEARCH_INDEX_TTL = 2.0


@dataclass(frozen=True)
class _SearchIndex:
    configured: str  # settings.CLIP_MODEL when it was read
    model_name: str | None  # the model search reads; None: the configured one
    expires: float


_search_index: _SearchIndex | None = None
# Bumped by every forget, so that a lookup that started before it does not
# store what it read.
_generation = 0
_generation_lock = threading.Lock()


def index_for(encoder: ClipEncoder) -> VectorIndex:
    """The index row of `encoder`'s collection; the first index ever created is active."""
    index = VectorIndex.objects.filter(collection=encoder.collection_name).first()
    if index is not None:
        return index
    try:
        with transaction.atomic():
            first = not VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).exists()
            return VectorIndex.objects.create(
                model_name=encoder.model_name,
                model_id=encoder.model_id,
                collection=encoder.collection_name,
                dim=encoder.dim,
                state=VectorIndex.State.ACTIVE if first else VectorIndex.State.BUILDING,
                activated_at=timezone.now() if first else None,
            )
    except IntegrityError:  # Another process created it (or the active one) first.
        return VectorIndex.objects.get(collection=encoder.collection_name)


def search_encoder() -> ClipEncoder:
    """The encoder whose collection search reads: the active index's model.

    On a Qdrant server, the collection its search alias names at this moment
    (asked on every call: a switch flips the alias, and every search after
    it reads the new collection with the new model; the query then names
    that collection, so encoder and collection always agree). Otherwise, or
    before the first switch made an alias, the active `VectorIndex` row's:
    asked at most once per `SEARCH_INDEX_TTL` in a process (every search
    calls it). Inside a transaction it always asks and keeps nothing: what
    it reads there may be rolled back, or be this transaction's own.
    """
    alias = search_alias()
    collection = alias.search_collection() if alias is not None else None
    encoder = _encoder_of(collection) if collection is not None else None
    if encoder is not None:
        return encoder
    global _search_index
    name = settings.CLIP_MODEL
    cached = _search_index
    if cached is not None and cached.configured == name and time.monotonic() < cached.expires:
        return get_encoder(cached.model_name)
    generation = _generation
    configured = get_encoder()
    # The index row is created only before the first search.
    active = VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).first()
    if active is None:
        active = index_for(configured)
    model_name = None if active.collection == configured.collection_name else active.model_name
    if not transaction.get_connection().in_atomic_block:
        with _generation_lock:
            if generation == _generation:
                _search_index = _SearchIndex(
                    configured=name,
                    model_name=model_name,
                    expires=time.monotonic() + SEARCH_INDEX_TTL,
                )
    return configured if model_name is None else get_encoder(model_name)


# collection -> model name, as its index row says (a collection holds one
# model's vectors for good; forgotten with the rest on any change of a row).
_collection_models: dict[str, str] = {}


def _encoder_of(collection: str) -> ClipEncoder | None:
    """The encoder of `collection`, by its `VectorIndex` row; None if it has none (an
    alias not made by a switch: then search follows the rows)."""
    configured = get_encoder()
    if collection == configured.collection_name:
        return configured
    model_name = _collection_models.get(collection)
    if model_name is None:
        index = VectorIndex.objects.filter(collection=collection).first()
        if index is None:
            return None
        model_name = _collection_models.setdefault(collection, index.model_name)
    return get_encoder(model_name)


def forget_search_index(**kwargs: Any) -> None:
    """Make the next `search_encoder()` ask the database again.

    Connected to every save and delete of a `VectorIndex` (any keyword
    arguments: a signal's); inside a transaction it forgets again at commit,
    so that a lookup made meanwhile, which still saw the old row, is not kept.
    """
    _forget()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_forget)


def _forget() -> None:
    global _search_index, _generation
    with _generation_lock:
        _search_index = None
        _collection_models.clear()
        _generation += 1


def index_encoders() -> list[ClipEncoder]:
    """Encoders a new image is indexed with: `CLIP_MODEL`, plus the active one during a switch."""
    configured = get_encoder()
    index_for(configured)  # a new model's index starts building with its first image
    searching = search_encoder()
    return [configured] if searching is configured else [configured, searching]


def index_activate(index: VectorIndex) -> None:
    """Make `index` the one search reads; retire the previous one.

    On a Qdrant server it also flips the search alias to `index`'s collection,
    last inside the transaction: if the flip fails (`VectorStoreUnavailable`)
    the rows stay as they were, and from the flip on every search reads the
    new collection at once (`search_encoder`). Idempotent.
    """
    with transaction.atomic():
        VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).exclude(pk=index.pk).update(
            state=VectorIndex.State.RETIRED
        )
        index.state = VectorIndex.State.ACTIVE
        index.activated_at = timezone.now()
        index.save(update_fields=["state", "activated_at"])
        alias = search_alias()
        if alias is not None:
            alias.activate(index.collection)
