from __future__ import annotations

from datetime import date

import pytest

from search.filters import parse_filter
from search.querytext import ParsedQuery, parse_query, search_filters, split_terms


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a dog on the beach", ParsedQuery("a dog on the beach")),
        ("beach -people", ParsedQuery("beach", ("people",))),
        ('beach -"parked cars" -people', ParsedQuery("beach", ("parked cars", "people"))),
        ("-people beach", ParsedQuery("beach", ("people",))),
        ('"red car" in town', ParsedQuery("red car in town")),
        ("t-shirt -black-and-white", ParsedQuery("t-shirt", ("black-and-white",))),
        ('"-5 degrees" snow', ParsedQuery("-5 degrees snow")),
        ("--double dash", ParsedQuery("dash", ("double",))),
        ('snow -"unclosed  phrase', ParsedQuery("snow", ("unclosed phrase",))),
        ('snow - -"" ""', ParsedQuery("snow")),
        ("  spaced   out  ", ParsedQuery("spaced out")),
        ("-cat -cat -dog", ParsedQuery("", ("cat", "dog"))),
        ("", ParsedQuery("")),
    ],
)
def test_parse_query_splits_positive_text_and_negatives(raw: str, expected: ParsedQuery) -> None:
    assert parse_query(raw) == expected


def test_parse_query_keeps_unicode_words() -> None:
    assert parse_query("café -crème") == ParsedQuery("café", ("crème",))


def test_split_terms_trims_and_drops_blanks_and_repeats() -> None:
    assert split_terms(" people ,, cars,people ,  ") == ("people", "cars")
    assert split_terms("") == ()


def test_search_filters_is_none_without_any_filter() -> None:
    assert search_filters() is None


def test_search_filters_builds_the_api_filter_json() -> None:
    built = search_filters(
        image_format="JPEG",
        date_from=date(2024, 1, 1),
        date_to=date(2024, 12, 31),
        tags=("beach", "sunset"),
    )

    assert built == {
        "must": [
            {"key": "format", "match": {"value": "JPEG"}},
            {"key": "timestamp", "range": {"gte": "2024-01-01", "lte": "2024-12-31"}},
            {"key": "tags", "match": {"any": ["beach", "sunset"]}},
        ]
    }
    assert parse_filter(built) is not None  # the search service accepts it


def test_search_filters_with_an_open_date_range() -> None:
    built = search_filters(date_to=date(2023, 5, 1))

    assert built == {"must": [{"key": "timestamp", "range": {"lte": "2023-05-01"}}]}
