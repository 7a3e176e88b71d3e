"""One translation between the store-neutral types and Qdrant's, for both Qdrant libraries.

qdrant-client (`qdrant_client.models`) and qdrant-edge-py (`qdrant_edge`) name
the same filter model (must / should / must_not over field, range and id
conditions), but their constructors take other argument names and value
types. Each adapter describes its library's constructors once in a
`FilterModels`, and `to_qdrant_filter` walks `vectorstore.filters` with it.
Scored points come back with the same attributes from both, so `to_hit`
needs no description.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import numpy as np

from vectorstore import filters as f
from vectorstore.base import DENSE_VECTOR, Hit

F = TypeVar("F")


@dataclass(frozen=True)
class FilterModels(Generic[F]):
    """A Qdrant library's filter constructors, called with these keyword arguments.

    `filter(must=, should=, must_not=)` (each a list, or None when empty),
    `field(key=, match=None, range=None)`, `match_value(value)`,
    `match_any(values)`, `number_range(gte=, gt=, lte=, lt=)` and
    `datetime_range(gte=, gt=, lte=, lt=)` (aware datetimes, or None),
    `has_id(ids)`, `match_phrase(phrase)`, `geo_radius(lat, lon, meters)` and
    `geo_box(north, west, south, east)` (each the condition's `match` or
    geo argument, which `field` takes as `geo_radius=` / `geo_bounding_box=`).
    """

    filter: Callable[..., F]
    field: Callable[..., Any]
    match_value: Callable[[str | int], Any]
    match_any: Callable[[list[str] | list[int]], Any]
    number_range: Callable[..., Any]
    datetime_range: Callable[..., Any]
    has_id: Callable[[tuple[UUID, ...]], Any]
    match_phrase: Callable[[str], Any]
    geo_radius: Callable[[float, float, float], Any]
    geo_box: Callable[[float, float, float, float], Any]


def to_qdrant_filter(flt: f.Filter | None, models: FilterModels[F]) -> F | None:
    """`flt` in the library's types; None for no filter or an empty one (Qdrant's "all")."""
    if not flt:
        return None
    return _filter(flt, models)


def ids_filter(ids: Sequence[UUID], models: FilterModels[F]) -> F:
    """A filter selecting the points `ids`: unlike a list of ids, it skips those absent."""
    return _filter(f.Filter(must=(f.HasId(tuple(ids)),)), models)


def _filter(flt: f.Filter, models: FilterModels[F]) -> F:
    return models.filter(
        must=[_condition(c, models) for c in flt.must] or None,
        should=[_condition(c, models) for c in flt.should] or None,
        must_not=[_condition(c, models) for c in flt.must_not] or None,
    )


def _condition(cond: f.Condition, models: FilterModels[Any]) -> Any:
    if isinstance(cond, f.Filter):
        return _filter(cond, models)
    if isinstance(cond, f.HasId):
        return models.has_id(cond.ids)
    if isinstance(cond, f.Match):
        return models.field(key=cond.key, match=models.match_value(cond.value))
    if isinstance(cond, f.MatchAny):
        return models.field(key=cond.key, match=models.match_any(cond.value_list()))
    if isinstance(cond, f.Phrase):
        return models.field(key=cond.key, match=models.match_phrase(cond.phrase))
    if isinstance(cond, f.GeoRadius):
        return models.field(
            key=cond.key, geo_radius=models.geo_radius(cond.lat, cond.lon, cond.meters)
        )
    if isinstance(cond, f.GeoBox):
        return models.field(
            key=cond.key,
            geo_bounding_box=models.geo_box(cond.north, cond.west, cond.south, cond.east),
        )
    if isinstance(cond, f.Range):
        return models.field(
            key=cond.key,
            range=models.number_range(gte=cond.gte, gt=cond.gt, lte=cond.lte, lt=cond.lt),
        )
    return models.field(
        key=cond.key,
        range=models.datetime_range(gte=cond.gte, gt=cond.gt, lte=cond.lte, lt=cond.lt),
    )


def rfc3339_or_none(value: datetime | None) -> str | None:
    """For a library that takes datetimes as strings (see `filters.rfc3339`)."""
    return f.rfc3339(value) if value is not None else None


def point_uuid(value: Any) -> UUID:
    """A point id as a UUID: qdrant-client returns strings, qdrant-edge-py UUIDs."""
    return value if isinstance(value, UUID) else UUID(str(value))


def to_hit(point: Any) -> Hit:
    """A scored point of either library as a `Hit`; its vector only when one was asked for."""
    vector = dense_vector(getattr(point, "vector", None))
    return Hit(
        id=point_uuid(point.id),
        score=float(point.score),
        payload=point.payload,
        vector=np.asarray(vector, dtype=np.float32) if vector is not None else None,
    )


def dense_vector(vector: Any) -> list[float] | None:
    """The CLIP vector of a returned point's vectors (None when none was asked for).

    A collection holding only the unnamed dense vector returns a list; one that
    also holds the named sparse vector returns a dict, the dense one under "".
    """
    if isinstance(vector, dict):
        vector = vector.get(DENSE_VECTOR)
    return vector if isinstance(vector, list) else None
