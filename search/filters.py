"""Parse the API's filter JSON (the design document's shape) into a store filter.

Only allow-listed keys are accepted, each with the conditions that make sense
for it; anything else is a 400 `invalid_filter` that says what was wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import ApplicationError
from vectorstore import DateRange, Filter, GeoBox, GeoRadius, Match, MatchAny, Range
from vectorstore.base import KIND_FIELD

# What a result is: an image, or a video (one of its moments). Only a
# moment's point has a `kind`, so "image" is the absence of "video".
KINDS = ("image", "video")

# `visibility` narrows within what the user may see anyway: "private" means
# the user's own private images.
KEYWORD_KEYS = {"format", "tags", "visibility", "camera", "place", "country"}
# Stored case-folded (`Image.lexical_payload`): "Lisbon" finds "lisbon".
FOLDED_KEYS = {"camera", "place", "country"}
INTEGER_KEYS = {"width", "height"}
# A video's length in seconds: only videos have one, so a range on it keeps videos alone.
FLOAT_KEYS = {"duration"}
BOOLEAN_KEYS = {"has_text"}
DATETIME_KEYS = {"timestamp", "uploaded_at", "taken_at"}
# `location` takes `near` (lat, lon, km) or `bbox` (north, west, south, east).
GEO_KEYS = {"location"}
ALLOWED_KEYS = KEYWORD_KEYS | INTEGER_KEYS | FLOAT_KEYS | BOOLEAN_KEYS | DATETIME_KEYS | GEO_KEYS
ALLOWED_KEYS |= {KIND_FIELD}
# Where a photo was taken is the owner's to share: on another user's image
# these conditions see its place only if the owner shares it (`place_shown`),
# so no filter, not even a must_not, can tell where an unshared photo was taken.
LOCATION_KEYS = {"place", "country", "location"}
NEAR_MAX_KM = 20_000.0
CLAUSES = ("must", "should", "must_not")
RANGE_OPS = ("gte", "gt", "lte", "lt")


class InvalidFilter(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_filter", message)


def parse_filter(raw: Any, *, viewer: str | None = None) -> Filter | None:
    """`{"must": [...], "should": [...], "must_not": [...]}` to a `Filter` (None if empty).

    `viewer` (a user id) sees the place of their own images whether shared or
    not (`LOCATION_KEYS`).
    """
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise InvalidFilter("filters must be an object with must, should and/or must_not lists.")
    unknown = set(raw) - set(CLAUSES)
    if unknown:
        raise InvalidFilter(f"Unknown filter clause(s): {', '.join(sorted(unknown))}.")
    parsed: dict[str, tuple[Any, ...]] = {}
    for clause in CLAUSES:
        conditions = raw.get(clause, [])
        if not isinstance(conditions, list):
            raise InvalidFilter(f"filters.{clause} must be a list of conditions.")
        if len(conditions) > 32:
            raise InvalidFilter(f"filters.{clause} has more than 32 conditions.")
        parsed[clause] = tuple(
            _guarded(_condition(c, f"filters.{clause}[{i}]"), viewer)
            for i, c in enumerate(conditions)
        )
    result = Filter(**parsed)
    return result or None


Parsed = Match | MatchAny | Range | DateRange | GeoRadius | GeoBox


def _guarded(condition: Parsed | Filter, viewer: str | None) -> Parsed | Filter:
    if isinstance(condition, Filter) or condition.key not in LOCATION_KEYS:
        return condition
    may_see = [Match("place_shown", 1)]
    if viewer is not None:
        may_see.insert(0, Match("owner", viewer))
    return Filter(must=(condition, Filter(should=tuple(may_see))))


def _condition(raw: Any, where: str) -> Parsed | Filter:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        raise InvalidFilter(f"{where} must be an object with a string key.")
    key = raw["key"]
    if key not in ALLOWED_KEYS:
        raise InvalidFilter(
            f"{where}: {key!r} cannot be filtered on. "
            f"Allowed keys: {', '.join(sorted(ALLOWED_KEYS))}."
        )
    kinds = set(raw) - {"key"}
    if key == KIND_FIELD:
        if kinds != {"match"}:
            raise InvalidFilter(f"{where}: kind takes a match of image or video.")
        return _kind(raw["match"], where)
    if key in GEO_KEYS:
        if kinds == {"near"}:
            return _near(key, raw["near"], where)
        if kinds == {"bbox"}:
            return _bbox(key, raw["bbox"], where)
        raise InvalidFilter(f"{where}: {key} takes exactly one of near or bbox.")
    if kinds == {"match"}:
        return _match(key, raw["match"], where)
    if kinds == {"range"}:
        return _range(key, raw["range"], where)
    raise InvalidFilter(f"{where} must have exactly one of match or range.")


def _near(key: str, near: Any, where: str) -> GeoRadius:
    if not isinstance(near, dict) or set(near) != {"lat", "lon", "km"}:
        raise InvalidFilter(f'{where}.near must be {{"lat": ..., "lon": ..., "km": ...}}.')
    lat = _coordinate(near["lat"], 90.0, f"{where}.near.lat")
    lon = _coordinate(near["lon"], 180.0, f"{where}.near.lon")
    km = near["km"]
    if isinstance(km, bool) or not isinstance(km, int | float) or not 0 < km <= NEAR_MAX_KM:
        raise InvalidFilter(f"{where}.near.km must be a number of kilometres above 0.")
    return GeoRadius(key, lat=lat, lon=lon, meters=float(km) * 1000.0)


def _bbox(key: str, box: Any, where: str) -> GeoBox:
    sides = {"north", "west", "south", "east"}
    if not isinstance(box, dict) or set(box) != sides:
        raise InvalidFilter(f"{where}.bbox must have north, west, south and east.")
    north = _coordinate(box["north"], 90.0, f"{where}.bbox.north")
    south = _coordinate(box["south"], 90.0, f"{where}.bbox.south")
    if south > north:
        raise InvalidFilter(f"{where}.bbox: south must not be above north.")
    return GeoBox(
        key,
        north=north,
        west=_coordinate(box["west"], 180.0, f"{where}.bbox.west"),
        south=south,
        east=_coordinate(box["east"], 180.0, f"{where}.bbox.east"),
    )


def _coordinate(value: Any, bound: float, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -bound <= value <= bound
    ):
        raise InvalidFilter(f"{where} must be a number from {-bound:g} to {bound:g}.")
    return float(value)


def _kind(match: Any, where: str) -> Filter:
    """`image`, `video`, or any of them, as a condition on the points' `kind`."""
    values = _match_values(match, where)
    if any(v not in KINDS for v in values):
        raise InvalidFilter(f"{where}: kind is image or video.")
    video = Match(KIND_FIELD, "video")
    sides = {"image": Filter(must_not=(video,)), "video": Filter(must=(video,))}
    return Filter(should=tuple(sides[k] for k in KINDS if k in values))


def _match_values(match: Any, where: str) -> list[Any]:
    """The values of `{"value": v}` or `{"any": [v, ...]}`, unchecked."""
    if not isinstance(match, dict) or len(match) != 1 or not ({"value", "any"} & set(match)):
        raise InvalidFilter(f'{where}.match must be {{"value": ...}} or {{"any": [...]}}.')
    if "value" in match:
        return [match["value"]]
    values = match["any"]
    if not isinstance(values, list) or not values or len(values) > 100:
        raise InvalidFilter(f"{where}.match.any must be a list of 1 to 100 values.")
    return values


def _match(key: str, match: Any, where: str) -> Match | MatchAny:
    if key in DATETIME_KEYS | FLOAT_KEYS:
        raise InvalidFilter(f"{where}: {key} takes a range, not a match.")
    values = _match_values(match, where)
    if "value" in match:
        return Match(key, _scalar(key, values[0], where))
    scalars = [_scalar(key, v, where) for v in values]
    return MatchAny(key, tuple(scalars))  # type: ignore[arg-type]


def _scalar(key: str, value: Any, where: str) -> str | int:
    if key in BOOLEAN_KEYS:
        if not isinstance(value, bool):
            raise InvalidFilter(f"{where}: {key} values must be true or false.")
        return int(value)
    if key in INTEGER_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidFilter(f"{where}: {key} values must be integers.")
        return value
    if not isinstance(value, str) or not value or len(value) > 100:
        raise InvalidFilter(f"{where}: {key} values must be non-empty strings.")
    # Formats are stored as Pillow names (JPEG, PNG, WEBP, GIF).
    if key == "format":
        return value.upper()
    return value.casefold() if key in FOLDED_KEYS else value


def _range(key: str, bounds: Any, where: str) -> Range | DateRange:
    if key in KEYWORD_KEYS | BOOLEAN_KEYS:
        raise InvalidFilter(f"{where}: {key} takes a match, not a range.")
    if not isinstance(bounds, dict) or not bounds or set(bounds) - set(RANGE_OPS):
        raise InvalidFilter(f"{where}.range must use gte, gt, lte and/or lt.")
    if key in INTEGER_KEYS | FLOAT_KEYS:
        for op, value in bounds.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidFilter(f"{where}.range.{op} must be a number.")
        return Range(key, **{op: float(v) for op, v in bounds.items()})
    return DateRange(
        key, **{op: _datetime(v, op, f"{where}.range.{op}") for op, v in bounds.items()}
    )


def _datetime(value: Any, op: str, where: str) -> datetime:
    """An ISO date or datetime. A bare date as an upper bound means the end of that day."""
    if isinstance(value, str):
        day = parse_date(value) if len(value) == 10 else None
        if day is None:
            moment = _parse_datetime(value)
            if moment is not None:
                return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
        else:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            if op == "lte":
                return start + timedelta(days=1) - timedelta(microseconds=1)
            if op == "gt":
                return start + timedelta(days=1)
            return start
    raise InvalidFilter(f"{where} must be an ISO 8601 date or datetime, got {value!r}.")


def _parse_datetime(value: str) -> datetime | None:
    try:
        return parse_datetime(value)
    except ValueError:
        return None
