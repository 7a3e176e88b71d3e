"""Near-duplicates within one user's library: images whose vectors are almost the same."""

from __future__ import annotations

from django.conf import settings

from core.iterables import batched
from gallery.indexes import search_encoder
from gallery.models import POINT_KIND_VIDEO, Image
from search.services import SearchResult, User
from vectorstore import Filter, HasId, Match, VectorQuery, get_store
from vectorstore.base import KIND_FIELD

BATCH = 32


def image_duplicates(*, user: User, image: Image, limit: int = 50) -> list[SearchResult]:
    """The user's own images above `DUPLICATE_THRESHOLD` cosine to `image`, closest first."""
    groups = _neighbours(user, [image], limit=limit)
    return groups.get(image.pk, [])


def duplicate_groups(*, user: User) -> list[list[SearchResult]]:
    """Groups of near-duplicate images in the user's library, largest first.

    Every indexed image asks the store for its neighbours above the threshold
    (in batched queries); overlapping pairs are joined into groups.
    """
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    images = Image.objects.owned_by(user).filter(status=Image.Status.INDEXED).order_by("pk")
    by_id: dict[object, Image] = {}
    scores: dict[object, float] = {}
    for chunk in batched(images.iterator(chunk_size=500), BATCH):
        by_id.update((image.pk, image) for image in chunk)
        for image_id, found in _neighbours(user, chunk, limit=50).items():
            for result in found:
                by_id[result.image.pk] = result.image
                parent[find(result.image.pk)] = find(image_id)
                scores[result.image.pk] = max(scores.get(result.image.pk, 0.0), result.score)
    members: dict[object, list[object]] = {}
    for image_id in parent:
        members.setdefault(find(image_id), []).append(image_id)
    groups = [
        [
            SearchResult(image=by_id[i], score=scores.get(i, 1.0), similarity=scores.get(i, 1.0))
            for i in sorted(ids, key=str)
        ]
        for ids in members.values()
        if len(ids) > 1
    ]
    return sorted(groups, key=lambda g: (-len(g), str(g[0].image.pk)))


def _neighbours(user: User, images: list[Image], *, limit: int) -> dict[object, list[SearchResult]]:
    encoder = search_encoder()
    store = get_store()
    vectors = store.retrieve_vectors(encoder.collection_name, [i.pk for i in images])
    own = Match("owner", str(user.pk))
    asked = [image for image in images if image.pk in vectors]
    queries = [
        VectorQuery(
            vector=vectors[image.pk],
            limit=limit,
            filter=Filter(
                must=(own,), must_not=(HasId((image.pk,)), Match(KIND_FIELD, POINT_KIND_VIDEO))
            ),
            score_threshold=settings.DUPLICATE_THRESHOLD,
        )
        for image in asked
    ]
    hit_lists = store.query_batch(encoder.collection_name, queries) if queries else []
    found_ids = {hit.id for hits in hit_lists for hit in hits}
    rows = Image.objects.owned_by(user).in_bulk(list(found_ids))
    return {
        image.pk: [
            SearchResult(image=rows[h.id], score=h.score, similarity=h.score)
            for h in hits
            if h.id in rows
        ]
        for image, hits in zip(asked, hit_lists, strict=True)
    }
