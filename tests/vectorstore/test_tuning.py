"""Which filtered searches walk the graph with ACORN, and which rely on its payload links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.env import ConfigError
from vectorstore import DateRange, Filter, HasId, Match, MatchAny, Range
from vectorstore.tuning import IndexTuning, acorn_wanted

# The shape of search.services.access_filter: the owner's points, or public ones.
ACCESS = Filter(
    should=(
        Match("owner", "7"),
        Filter(must=(Match("visibility", "public"),), must_not=(Match("hidden", 1),)),
    )
)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("flt", "wanted"),
    [
        (ACCESS, False),  # the owner's links serve it
        (Filter(must=(ACCESS, Filter(must=(DateRange("uploaded_at", gte=SINCE),)))), False),
        (Filter(must=(ACCESS, Filter(must=(MatchAny("tags", ("dog", "cat")),)))), False),
        (Filter(must=(ACCESS, Filter(must=(Match("format", "PNG"),)))), True),
        (Filter(must=(ACCESS, Filter(must=(Range("width", gte=3000),)))), True),
        (Filter(must=(Match("visibility", "public"),)), True),
        (Filter(should=(Match("format", "PNG"), Match("format", "GIF"))), True),
        (Filter(should=(Match("format", "PNG"), Match("tags", "dog"))), False),
        (Filter(must=(ACCESS,), must_not=(Match("format", "PNG"), HasId(()))), False),
    ],
    ids=[
        "access",
        "access+date",
        "access+tags",
        "access+format",
        "access+width",
        "visibility-only",
        "should-unlinked",
        "should-mixed",
        "must-not-ignored",
    ],
)
def test_acorn_only_where_no_graph_links_serve_the_filter(flt: Filter, wanted: bool) -> None:
    assert acorn_wanted(flt) is wanted


def test_acorn_is_off_without_a_filter_or_when_switched_off() -> None:
    by_format = Filter(must=(Match("format", "PNG"),))

    assert IndexTuning().acorn_for(by_format)
    assert not IndexTuning(acorn=False).acorn_for(by_format)
    assert not IndexTuning().acorn_for(None)
    assert not IndexTuning().acorn_for(Filter())


def test_tuning_reads_the_environment_with_the_shared_parsers() -> None:
    tuning = IndexTuning.from_env(
        {"VECTOR_ACORN": "off", "VECTOR_SEARCH_EF": "64", "VECTOR_QUANTIZATION": "INT8"}
    )

    assert (tuning.acorn, tuning.search_ef, tuning.quantization) == (False, 64, "int8")
    assert IndexTuning.from_env({}) == IndexTuning()
    assert IndexTuning.from_env({"VECTOR_ACORN": ""}).acorn is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # Anything but 0/false/no/off used to mean "on".
        ("VECTOR_ACORN", "flase"),
        ("VECTOR_HNSW_M", "16.5"),
        ("VECTOR_SEARCH_EF", "0"),
        ("VECTOR_OVERSAMPLING", "0.5"),
        ("VECTOR_QUANTIZATION", "pq"),
    ],
)
def test_a_malformed_tuning_value_is_an_error_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable} must be .*{value}"):
        IndexTuning.from_env({variable: value})
