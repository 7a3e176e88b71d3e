from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks

ROOT = Path(__file__).resolve().parents[2]


def _settings_process(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CLIPSEARCH_DEV"}}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "clipsite.settings",
            "CLIPSEARCH_ENV_FILE": "/nonexistent/.env",  # ignore a developer's .env
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_secret_key_is_required_without_the_dev_flag(tmp_path: Path) -> None:
    result = _settings_process({"CLIPSEARCH_DATA_DIR": str(tmp_path)}, "pass")

    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_debug_is_off_by_default(tmp_path: Path) -> None:
    result = _settings_process(
        {"SECRET_KEY": "x" * 50, "CLIPSEARCH_DATA_DIR": str(tmp_path)},
        "from django.conf import settings as s; print(s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CLIPSEARCH_DEV"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "clipsite.settings",
            "CLIPSEARCH_ENV_FILE": "/nonexistent/.env",
            "SECRET_KEY": "x" * 50,
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AUTO_TAG_MIN_PROBABILITY", "abc", "AUTO_TAG_MIN_PROBABILITY must be a number, got 'abc'"),
        ("AUTO_TAG_MIN_PROBABILITY", "1.5", "AUTO_TAG_MIN_PROBABILITY must be between 0.0 and 1.0"),
        ("VECTOR_ACORN", "flase", "VECTOR_ACORN must be a boolean"),
        ("SEARCH_NEGATIVE_STRATEGY", "best", "SEARCH_NEGATIVE_STRATEGY must be one of"),
        ("THROTTLE_UPLOAD", "100 a minute", "THROTTLE_UPLOAD must be a rate"),
    ],
)
def test_manage_py_refuses_a_malformed_setting_in_one_line(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = _manage({"CLIPSEARCH_DATA_DIR": str(tmp_path), variable: value}, "check")

    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith(f"Configuration error: {message}"), result.stderr
    assert repr(value) in lines[0]


def test_manage_py_check_passes_with_the_same_settings_well_formed(tmp_path: Path) -> None:
    env = {
        "CLIPSEARCH_DATA_DIR": str(tmp_path),
        "AUTO_TAG_MIN_PROBABILITY": "0.5",
        "VECTOR_ACORN": "off",
        "SEARCH_NEGATIVE_STRATEGY": "best_score",
        "THROTTLE_UPLOAD": "100/min",
    }

    result = _manage(env, "check")

    assert result.returncode == 0, result.stderr


def test_check_refuses_a_broker_with_an_embedded_vector_store(
    settings: pytest.FixtureRequest,
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]

    ids = {m.id for m in run_checks()}

    assert "clipsite.E001" in ids


def test_check_accepts_a_broker_with_a_qdrant_server(settings: pytest.FixtureRequest) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]
    settings.VECTOR_STORE = {  # type: ignore[attr-defined]
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {"url": "http://qdrant:6333"},
    }

    assert "clipsite.E001" not in {m.id for m in run_checks()}


def test_check_refuses_a_local_model_directory_without_a_model(
    settings: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings.CLIP_MODEL = str(tmp_path)  # type: ignore[attr-defined]

    messages = [m for m in run_checks() if m.id == "clipsite.E002"]

    assert messages
    assert str(tmp_path) in messages[0].msg


def test_check_refuses_an_unknown_precision(settings: pytest.FixtureRequest) -> None:
    settings.CLIP_PRECISION = "fp4"  # type: ignore[attr-defined]

    messages = [m for m in run_checks() if m.id == "clipsite.E003"]

    assert messages
    assert "fp4" in messages[0].msg


@pytest.mark.parametrize(
    ("options", "check_id"),
    [
        ({"shards": 0}, "clipsite.E011"),
        ({"search_timeout": "5"}, "clipsite.E011"),
        ({"replicas": 2, "write_consistency": 3}, "clipsite.E012"),
        ({"write_consistency": 2}, "clipsite.E012"),
        ({"read_consistency": "most"}, "clipsite.E013"),
        ({"read_consistency": 0}, "clipsite.E013"),
        ({"retries": 50}, "clipsite.E014"),
        ({"retry_backoff": -1.0}, "clipsite.E014"),
    ],
)
def test_check_refuses_cluster_options_that_cannot_work(
    settings: pytest.FixtureRequest, options: dict[str, object], check_id: str
) -> None:
    settings.VECTOR_STORE = {  # type: ignore[attr-defined]
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {"url": "http://qdrant:6333", **options},
    }

    assert check_id in {m.id for m in run_checks()}


def test_check_accepts_a_replicated_cluster(settings: pytest.FixtureRequest) -> None:
    settings.VECTOR_STORE = {  # type: ignore[attr-defined]
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {
            "url": "http://qdrant:6333",
            "shards": 6,
            "replicas": 2,
            "write_consistency": 2,
            "read_consistency": "majority",
            "timeout": 10,
            "search_timeout": 5,
            "retries": 2,
            "retry_backoff": 0.2,
        },
    }

    ids = {m.id for m in run_checks()}

    assert not ids & {"clipsite.E011", "clipsite.E012", "clipsite.E013", "clipsite.E014"}
