"""What people type into the search page, turned into search terms and filters.

The search box takes natural text with exclusions: `beach -people -"parked cars"`
looks for "beach" and steers away from "people" and "parked cars". A quoted
phrase without a dash stays positive (`"-5 degrees"`), and a dash inside a word
is part of the word (`t-shirt`). The page's other fields (format, dates, tags,
place, camera) become the API's filter JSON, so pages and API share one filter language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# One term: an optional run of dashes, then a quoted phrase (its closing quote
# may be missing at the end of the text) or a bare word.
_TERM = re.compile(r'(?P<dash>-+)?(?:"(?P<phrase>[^"]*)(?:"|$)|(?P<word>[^\s"]+))')


@dataclass(frozen=True)
class ParsedQuery:
    """The positive text ("" when there is none) and the negative terms, in order, once each."""

    text: str
    negatives: tuple[str, ...] = ()


def parse_query(raw: str) -> ParsedQuery:
    """Split `raw` into positive text and `-word` / `-"two words"` negatives. Never raises."""
    positives: list[str] = []
    negatives: list[str] = []
    for negative, term, _ in _terms(raw):
        (negatives if negative else positives).append(term)
    return ParsedQuery(text=" ".join(positives), negatives=_unique(negatives))


def positive_query(raw: str) -> str:
    """The positive text of `raw` with its quoted phrases still in quotes, as search takes
    it: a quoted phrase must appear as written (`search.services.quoted_phrases`)."""
    return " ".join(
        f'"{term}"' if quoted else term for negative, term, quoted in _terms(raw) if not negative
    )


def _terms(raw: str) -> Iterable[tuple[bool, str, bool]]:
    """(negative, term, quoted) for each term of `raw`, in order."""
    for match in _TERM.finditer(raw):
        dash, phrase, word = match.group("dash", "phrase", "word")
        term = _squash(phrase if phrase is not None else word or "")
        if not term.strip("-"):
            continue  # a lone dash, or empty quotes
        yield bool(dash), term, phrase is not None


def split_terms(raw: str) -> tuple[str, ...]:
    """A comma-separated list ("less of" and tags fields): trimmed, without blanks or repeats."""
    return _unique(_squash(part) for part in raw.split(","))


def search_filters(
    *,
    image_format: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    tags: Sequence[str] = (),
    place: str = "",
    camera: str = "",
) -> dict[str, Any] | None:
    """The page's filter fields as the API's filter JSON (`search.filters`); None when unset.

    Dates apply to `timestamp` (taken, else uploaded); a bare `lte` date includes that day.
    `place` is a city, region or country name and `camera` a make, model or both, each
    matched whole and case-insensitively.
    """
    must: list[dict[str, Any]] = []
    if image_format:
        must.append({"key": "format", "match": {"value": image_format}})
    if date_from or date_to:
        bounds = {"gte": date_from, "lte": date_to}
        must.append(
            {
                "key": "timestamp",
                "range": {op: day.isoformat() for op, day in bounds.items() if day},
            }
        )
    if tags:
        must.append({"key": "tags", "match": {"any": list(tags)}})
    for key, value in (("place", place), ("camera", camera)):
        if _squash(value):
            must.append({"key": key, "match": {"value": _squash(value)}})
    return {"must": must} if must else None


def _squash(text: str) -> str:
    return " ".join(text.split())


def _unique(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in terms if t))
