from __future__ import annotations

from pathlib import Path

import pytest

from clipsite import config
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
    }
    assert not config.is_embedded_vector_store(store)
    assert config.database_config({"REDIS_URL": "x"}, tmp_path)["ENGINE"].endswith("sqlite3")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("off", False), ("", False)]
)
def test_env_bool(raw: str, expected: bool) -> None:
    assert config.env_bool({"X": raw}, "X") is expected


def test_bad_values_are_explained() -> None:
    with pytest.raises(config.ConfigError, match="X must be a boolean"):
        config.env_bool({"X": "maybe"}, "X")
    with pytest.raises(config.ConfigError, match="X must be an integer"):
        config.env_int({"X": "ten"}, "X", 1)
    with pytest.raises(config.ConfigError, match="at least 1"):
        config.env_int({"X": "0"}, "X", 5, minimum=1)


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
    with pytest.raises(config.ConfigError, match="quantization"):
        config.vector_store_config({"VECTOR_QUANTIZATION": "pq"}, tmp_path)
