"""Resolve which model and collection search and indexing use (see `VectorIndex`)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from encoder.clip import ClipEncoder, get_encoder
from gallery.models import VectorIndex


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
    """The encoder whose collection search reads: the active index's model."""
    configured = get_encoder()
    # One query on every search; the index row is created only before the first.
    active = VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).first()
    if active is None:
        active = index_for(configured)
    if active.collection == configured.collection_name:
        return configured
    return get_encoder(active.model_name)


def index_encoders() -> list[ClipEncoder]:
    """Encoders a new image is indexed with: `CLIP_MODEL`, plus the active one during a switch."""
    configured = get_encoder()
    index_for(configured)  # a new model's index starts building with its first image
    searching = search_encoder()
    return [configured] if searching is configured else [configured, searching]


def index_activate(index: VectorIndex) -> None:
    """Make `index` the one search reads; retire the previous one."""
    with transaction.atomic():
        VectorIndex.objects.filter(state=VectorIndex.State.ACTIVE).exclude(pk=index.pk).update(
            state=VectorIndex.State.RETIRED
        )
        index.state = VectorIndex.State.ACTIVE
        index.activated_at = timezone.now()
        index.save(update_fields=["state", "activated_at"])
