from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from clipsite import config
from core.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_rate,
)
from vectorstore.tuning import IndexTuning


def test_nothing_set_means_everything_embedded(tmp_path: Path) -> None:
    env: dict[str, str] = {}

    database = config.database_config(env, tmp_path)
    storages = config.storages_config(env, tmp_path / "media")
    store = config.vector_store_config(env, tmp_path)

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]
    assert database["OPTIONS"]["timeout"] > 0
    assert database["CONN_MAX_AGE"] is None  # a request reuses its thread's connection
    assert storages["default"]["BACKEND"].endswith("FileSystemStorage")
    assert config.cache_config(env)["default"]["BACKEND"].endswith("LocMemCache")
    assert store == {
        "BACKEND": "vectorstore.EdgeStore",
        "OPTIONS": {
            "path": str(tmp_path / "qdrant"),
            "tuning": IndexTuning(),
            "exact": False,
            "background_build_min": 20_000,
        },
    }
    assert config.is_embedded_vector_store(store)


def test_each_production_service_switches_on_independently(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "postgres://u:p@db:5432/clip",
        "AWS_STORAGE_BUCKET_NAME": "photos",
        "AWS_S3_ENDPOINT_URL": "http://s3:8333",
        "REDIS_URL": "redis://redis:6379/1",
        "QDRANT_URL": "http://qdrant:6333",
        "QDRANT_API_KEY": "k",
    }

    database = config.database_config(env, tmp_path)
    s3 = config.storages_config(env, tmp_path)["default"]
    store = config.vector_store_config(env, tmp_path)

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "clip"
    assert s3["BACKEND"] == "storages.backends.s3.S3Storage"
    assert s3["OPTIONS"]["bucket_name"] == "photos"
    assert s3["OPTIONS"]["endpoint_url"] == "http://s3:8333"
    assert s3["OPTIONS"]["default_acl"] == "private"
    assert s3["OPTIONS"]["querystring_auth"] is True
    assert config.cache_config(env)["default"]["LOCATION"] == "redis://redis:6379/1"
    assert store["OPTIONS"] == {
        "url": "http://qdrant:6333",
        "api_key": "k",
        "tuning": IndexTuning(),
        **config.vector_cluster_options({}),
    }
    assert not config.is_embedded_vector_store(store)
    assert config.database_config({"REDIS_URL": "x"}, tmp_path)["ENGINE"].endswith("sqlite3")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("off", False), ("No", False), ("", False)],
)
def test_env_bool(raw: str, expected: bool) -> None:
    assert env_bool({"X": raw}, "X") is expected


def test_unset_or_blank_means_the_default() -> None:
    assert env_bool({}, "X", default=True) is True
    assert env_bool({"X": " "}, "X", default=True) is True
    assert env_int({"X": ""}, "X", 7) == 7
    assert env_float({}, "X", 0.5) == 0.5
    assert env_choice({"X": ""}, "X", "plain", ("plain", "json")) == "plain"
    assert env_rate({}, "X", "10/min") == "10/min"
    # Lists alone tell "set but empty" from "unset".
    assert env_list({}, "X", ["a"]) == ["a"]
    assert env_list({"X": ""}, "X", ["a"]) == []
    assert env_list({"X": " a, ,b "}, "X", []) == ["a", "b"]


def test_values_are_read_as_their_type() -> None:
    assert env_int({"X": " 12 "}, "X", 1) == 12
    assert env_float({"X": "-0.5"}, "X", 0.0, minimum=-1.0, maximum=1.0) == -0.5
    assert env_choice({"X": "JSON"}, "X", "plain", ("plain", "json")) == "json"
    assert env_choice({"X": "info"}, "X", "INFO", ("DEBUG", "INFO")) == "INFO"
    assert env_rate({"X": "5 / Hour"}, "X", "1/min") == "5/hour"


@pytest.mark.parametrize(
    ("parse", "message"),
    [
        (lambda e: env_bool(e, "X"), r"X must be a boolean .*got 'flase'"),
        (lambda e: env_int(e, "X", 1), "X must be an integer, got 'flase'"),
        (lambda e: env_float(e, "X", 1.0), "X must be a number, got 'flase'"),
        (lambda e: env_choice(e, "X", "a", ("a", "b")), "X must be one of a, b; got 'flase'"),
        (lambda e: env_rate(e, "X", "1/min"), r"X must be a rate .*got 'flase'"),
    ],
    ids=["bool", "int", "float", "choice", "rate"],
)
def test_a_malformed_value_is_an_error_naming_the_variable_and_the_value(
    parse: Callable[[dict[str, str]], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"X": "flase"})


def test_values_out_of_range_are_errors() -> None:
    with pytest.raises(ConfigError, match="X must be at least 1, got '0'"):
        env_int({"X": "0"}, "X", 5, minimum=1)
    with pytest.raises(ConfigError, match=r"X must be between 0.0 and 1.0, got '1.5'"):
        env_float({"X": "1.5"}, "X", 0.2, maximum=1.0)
    with pytest.raises(ConfigError, match=r"X must be between -1.0 and 1.0"):
        env_float({"X": "-1.01"}, "X", 0.95, minimum=-1.0, maximum=1.0)
    with pytest.raises(ConfigError, match="X must be a finite number, got 'nan'"):
        env_float({"X": "nan"}, "X", 0.2, maximum=1.0)
    with pytest.raises(ConfigError, match=r"X must be at least 0.0"):
        env_float({"X": "-0.3"}, "X", 0.3)
    # "300 per minute" is not "300/min": DRF would fail on it at the first request.
    with pytest.raises(ConfigError, match="X must be a rate"):
        env_rate({"X": "300 per minute"}, "X", "1/min")


def test_a_config_error_is_django_s_improperly_configured_and_a_value_error() -> None:
    assert issubclass(ConfigError, ImproperlyConfigured)
    assert issubclass(ConfigError, ValueError)


def test_vector_index_tuning_comes_from_the_environment(tmp_path: Path) -> None:
    env = {
        "VECTOR_HNSW_M": "32",
        "VECTOR_QUANTIZATION": "int8",
        "VECTOR_ACORN": "0",
        "VECTOR_MAX_SEGMENT_KB": "500000",
    }

    tuning = config.vector_store_config(env, tmp_path)["OPTIONS"]["tuning"]

    assert (tuning.hnsw_m, tuning.quantization, tuning.acorn) == (32, "int8", False)
    assert tuning.max_segment_kb == 500_000
    with pytest.raises(ConfigError, match="VECTOR_QUANTIZATION must be one of none, int8"):
        config.vector_store_config({"VECTOR_QUANTIZATION": "pq"}, tmp_path)
    # It used to be on for anything but 0/false/no/off.
    with pytest.raises(ConfigError, match=r"VECTOR_ACORN must be a boolean .*'flase'"):
        config.vector_store_config({"VECTOR_ACORN": "flase"}, tmp_path)
    with pytest.raises(ConfigError, match="VECTOR_EXACT must be a boolean"):
        config.vector_store_config({"VECTOR_EXACT": "sometimes"}, tmp_path)


def test_moderation_concepts_are_checked() -> None:
    assert config.parse_concepts("a violent scene=0.27; a nude person = 0.3") == {
        "a violent scene": 0.27,
        "a nude person": 0.3,
    }
    for bad in ("a violent scene", "a violent scene=high", "x=1.5", "=0.2", "x=nan"):
        with pytest.raises(ConfigError, match="MODERATION_CONCEPTS"):
            config.parse_concepts(bad)


def test_cluster_settings_default_to_qdrants_own_topology() -> None:
    options = config.vector_cluster_options({})

    assert options == {
        "shards": None,
        "replicas": None,
        "write_consistency": None,
        "read_consistency": None,
        "timeout": 10,
        "search_timeout": 5,
        "retries": 2,
        "retry_backoff": 0.2,
        "prefer_grpc": False,
        "grpc_port": 6334,
        "search_alias": "images-search",
    }


def test_cluster_settings_reach_the_server_store_options(tmp_path: Path) -> None:
    env = {
        "QDRANT_URL": "http://qdrant:6333",
        "VECTOR_SHARDS": "6",
        "VECTOR_REPLICAS": "2",
        "VECTOR_WRITE_CONSISTENCY": "2",
        "VECTOR_READ_CONSISTENCY": "Majority",
        "VECTOR_TIMEOUT_SECONDS": "20",
        "VECTOR_SEARCH_TIMEOUT_SECONDS": "3",
        "VECTOR_RETRIES": "4",
        "VECTOR_RETRY_BACKOFF_SECONDS": "0.5",
        "VECTOR_PREFER_GRPC": "yes",
        "QDRANT_GRPC_PORT": "16334",
        "VECTOR_SEARCH_ALIAS": "photos-search",
    }

    options = config.vector_store_config(env, tmp_path)["OPTIONS"]

    assert options["shards"] == 6
    assert options["replicas"] == 2
    assert options["write_consistency"] == 2
    assert options["read_consistency"] == "majority"
    assert (options["timeout"], options["search_timeout"]) == (20, 3)
    assert (options["retries"], options["retry_backoff"]) == (4, 0.5)
    assert (options["prefer_grpc"], options["grpc_port"]) == (True, 16334)
    assert options["search_alias"] == "photos-search"
    assert config.vector_cluster_options({"VECTOR_READ_CONSISTENCY": "2"})["read_consistency"] == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VECTOR_SHARDS", "0"),
        ("VECTOR_REPLICAS", "two"),
        ("VECTOR_WRITE_CONSISTENCY", "0"),
        ("VECTOR_READ_CONSISTENCY", "most"),
        ("VECTOR_READ_CONSISTENCY", "0"),
        ("VECTOR_TIMEOUT_SECONDS", "0"),
        ("VECTOR_SEARCH_TIMEOUT_SECONDS", "1.5"),
        ("VECTOR_RETRIES", "11"),
        ("VECTOR_RETRY_BACKOFF_SECONDS", "-1"),
        ("VECTOR_PREFER_GRPC", "grpc"),
        ("QDRANT_GRPC_PORT", "70000"),
    ],
)
def test_cluster_settings_refuse_bad_values_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        config.vector_cluster_options({name: value})


def test_write_consistency_cannot_exceed_the_replicas() -> None:
    with pytest.raises(ConfigError, match="VECTOR_WRITE_CONSISTENCY=3 exceeds VECTOR_REPLICAS=2"):
        config.vector_cluster_options({"VECTOR_REPLICAS": "2", "VECTOR_WRITE_CONSISTENCY": "3"})
    with pytest.raises(ConfigError, match="VECTOR_WRITE_CONSISTENCY"):
        config.vector_cluster_options({"VECTOR_WRITE_CONSISTENCY": "2"})
