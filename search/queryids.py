"""Query ids: a search response's signed, self-contained name for what it showed.

Each search page carries one (`SearchPage.query_id`). It names the user who
searched, the query's fingerprint (`SearchRequest.fingerprint()`, apart from
paging), the collection that answered (one per model), the mode, and each
result of the page with its rank across pages (1 = the best result of the
query). Feedback on a result (`search.feedback`) is checked against it, so the
server keeps nothing per query. Signed with its own salt, so a cursor or any
other signed value is never taken for one; compressed, as a page may list up
to 100 results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core import signing

from core.errors import ApplicationError

QUERY_ID_SALT = "search.query_id"
IMAGE, VIDEO = "image", "video"
_KIND_LETTERS = {IMAGE: "i", VIDEO: "v"}
_LETTER_KINDS = {letter: kind for kind, letter in _KIND_LETTERS.items()}


@dataclass(frozen=True)
class ShownResult:
    """One result of a page: an image or a video (by its id), at `rank` (1-based)."""

    kind: str
    id: UUID
    rank: int


@dataclass(frozen=True)
class QueryId:
    user_id: str
    fingerprint: str
    # The collections that answered, the active one first. Every result of
    # today's searches comes from `collections[0]`.
    collections: tuple[str, ...]
    mode: str
    results: tuple[ShownResult, ...]

    @property
    def collection(self) -> str:
        return self.collections[0]

    def result(self, kind: str, item_id: UUID) -> ShownResult | None:
        """The result `item_id` of `kind` on this page, or None if the page did not show it."""
        return next((r for r in self.results if r.kind == kind and r.id == item_id), None)


def query_id_dumps(
    *,
    user_id: Any,
    fingerprint: str,
    collections: Sequence[str],
    mode: str,
    first_rank: int,
    items: Sequence[tuple[str, UUID]],
) -> str:
    """Sign a page's query id. `items` are (kind, id) in page order, ranked from `first_rank`."""
    payload = {
        "u": str(user_id),
        "q": fingerprint,
        "c": list(collections),
        "m": mode,
        "o": first_rank,
        "k": "".join(_KIND_LETTERS[kind] for kind, _ in items),
        # Hex without dashes: what compresses best of the usual spellings.
        "r": [item_id.hex for _, item_id in items],
    }
    return signing.dumps(payload, salt=QUERY_ID_SALT, compress=True)


def query_id_loads(token: str, *, max_age: timedelta | None = None) -> QueryId:
    """Read a query id. Raises `ApplicationError` (400): `invalid_query_id` for one that was
    not signed here (tampered, truncated, or another kind of signed value), and
    `expired_query_id` for one older than `max_age`."""
    try:
        data = signing.loads(token, salt=QUERY_ID_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ApplicationError(
            "expired_query_id", "This search is too old to give feedback on: search again."
        ) from None
    except signing.BadSignature:
        raise ApplicationError("invalid_query_id", "The query_id is not valid.") from None
    try:
        first = int(data["o"])
        results = tuple(
            ShownResult(kind=_LETTER_KINDS[letter], id=UUID(hex=item), rank=first + position)
            for position, (letter, item) in enumerate(zip(data["k"], data["r"], strict=True))
        )
        return QueryId(
            user_id=str(data["u"]),
            fingerprint=str(data["q"]),
            collections=tuple(str(c) for c in data["c"]),
            mode=str(data["m"]),
            results=results,
        )
    except (KeyError, TypeError, ValueError) as exc:
        # Signed here, but not a query id this code wrote: never expected.
        raise ApplicationError("invalid_query_id", "The query_id is not valid.") from exc
