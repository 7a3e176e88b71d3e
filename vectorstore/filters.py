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


Condition = Match | MatchAny | Range | DateRange | HasId | Filter
