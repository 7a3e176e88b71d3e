"""A small, store-neutral filter language; each adapter translates it to its Qdrant client.

It mirrors Qdrant's must / should / must_not model, so translation is one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class Match:
    key: str
    value: str | int


@dataclass(frozen=True)
class MatchAny:
    key: str
    values: tuple[str, ...] | tuple[int, ...]

    def value_list(self) -> list[str] | list[int]:
        return list(self.values)  # type: ignore[return-value]


@dataclass(frozen=True)
class Range:
    key: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None


@dataclass(frozen=True)
class DateRange:
    key: str
    gte: datetime | None = None
    gt: datetime | None = None
    lte: datetime | None = None
    lt: datetime | None = None


@dataclass(frozen=True)
class HasId:
    ids: tuple[UUID, ...]


@dataclass(frozen=True)
class Phrase:
    """The words of `phrase`, in order, in the full-text indexed field `key`."""

    key: str
    phrase: str


@dataclass(frozen=True)
class GeoRadius:
    """A geo point field within `meters` of (`lat`, `lon`)."""

    key: str
    lat: float
    lon: float
    meters: float


@dataclass(frozen=True)
class GeoBox:
    """A geo point field inside the box from its north-west to its south-east corner."""

    key: str
    north: float
    west: float
    south: float
    east: float


@dataclass(frozen=True)
class Filter:
    must: tuple[Condition, ...] = field(default=())
    should: tuple[Condition, ...] = field(default=())
    must_not: tuple[Condition, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.must or self.should or self.must_not)


def rfc3339(value: datetime) -> str:
    """Datetimes go to Qdrant as RFC 3339 strings with an explicit zone."""
    if value.tzinfo is None:
        raise ValueError("filter datetimes must be timezone-aware")
    return value.isoformat()


Condition = Match | MatchAny | Range | DateRange | HasId | Phrase | GeoRadius | GeoBox | Filter
