from __future__ import annotations

import threading

import pytest

from gallery.places import Place, get_gazetteer, place_at


def test_lisbon_is_lisbon_not_one_of_its_quarters() -> None:
    assert place_at(38.7223, -9.1393) == Place(
        city="Lisbon", region="Lisbon", country="Portugal", country_code="PT"
    )


def test_berlin() -> None:
    place = place_at(52.5200, 13.4050)

    assert place is not None
    assert (place.city, place.country, place.country_code) == ("Berlin", "Germany", "DE")


def test_a_town_beside_a_city_keeps_its_name() -> None:
    place = place_at(38.7558, -9.2248)  # Amadora, 8 km from Lisbon's centre.

    assert place is not None
    assert place.city == "Amadora"


def test_the_nearest_place_is_found_across_the_antimeridian() -> None:
    # Beringovsky lies at 179.35 E, 38 km away over the 180th meridian (and
    # 359 degrees of longitude away as plain numbers).
    place = place_at(63.06, -179.9)

    assert place is not None
    assert (place.city, place.country_code) == ("Beringovskiy", "RU")


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(30.0, -40.0), (0.0, 0.0), (-60.0, -100.0), (float("nan"), 0.0), (91.0, 0.0)],
)
def test_the_open_sea_and_bad_positions_have_no_place(latitude: float, longitude: float) -> None:
    assert place_at(latitude, longitude) is None


def test_the_data_loads_once_for_concurrent_first_calls() -> None:
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(get_gazetteer())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(g) for g in seen}) == 1
