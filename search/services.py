"""Search: encode the query, ask the vector store within what the user may see, load the rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files import File

from clipsite.errors import ApplicationError
from gallery.models import Image
from gallery.validation import inspect_image, read_upload
from search.filters import parse_filter
from workers.encoder import get_encoder
from workers.vectorstore import Filter, Match, get_store

MAX_TOP_K = 100


@dataclass(frozen=True)
class SearchResult:
    image: Image
    score: float


def access_filter(user: AbstractBaseUser | AnonymousUser) -> Filter:
    """What `user` may see: their own images and public ones. Applied inside every vector query."""
    if not user.is_authenticated:
        raise ApplicationError("not_authenticated", "Sign in to search.", status=401)
    return Filter(should=(Match("owner", str(user.pk)), Match("visibility", "public")))


def search_text(
    *, user: AbstractBaseUser | AnonymousUser, query: str, top_k: int = 10, filters: Any = None
) -> list[SearchResult]:
    """Images best matching `query`, best first, among those `user` may see."""
    query = query.strip()
    if not query:
        raise ApplicationError("empty_query", "The query is empty.")
    vector = get_encoder().encode_texts([query])[0]
    return search_vector(user=user, vector=vector, top_k=top_k, filters=filters)


def search_image(
    *, user: AbstractBaseUser | AnonymousUser, upload: File, top_k: int = 10, filters: Any = None
) -> list[SearchResult]:
    """Images most similar to an uploaded picture. The picture itself is not stored."""
    inspected = inspect_image(read_upload(upload))
    vector = get_encoder().encode_images([inspected.image])[0]
    return search_vector(user=user, vector=vector, top_k=top_k, filters=filters)


def search_vector(
    *,
    user: AbstractBaseUser | AnonymousUser,
    vector: np.ndarray,
    top_k: int = 10,
    filters: Any = None,
) -> list[SearchResult]:
    if not 1 <= top_k <= MAX_TOP_K:
        raise ApplicationError("invalid_top_k", f"top_k must be between 1 and {MAX_TOP_K}.")
    user_filter = parse_filter(filters)
    scope = access_filter(user)
    combined = Filter(must=(scope, user_filter)) if user_filter else Filter(must=(scope,))
    hits = get_store().search(get_encoder().collection_name, vector, limit=top_k, filter=combined)
    # The access filter above is the enforcement; this lookup only loads rows
    # (and drops any whose row was deleted since the vector was written).
    rows = Image.objects.visible_to(user).in_bulk([hit.id for hit in hits])
    return [SearchResult(image=rows[hit.id], score=hit.score) for hit in hits if hit.id in rows]
