"""Pure, typed builders of the deployment parts of the Django settings.

Each deployment part (database, storage, broker, cache, vector store) switches
from its embedded default to a production service on its own variable, so the
builders take the environment as a mapping and are tested without Django.
Single values are read with the parsers in `core.env`, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url

from core.env import ConfigError, env_bool, env_float, env_int

# The choices of the settings that name a mode (settings.py reads them with
# `env_choice`; clipsite.checks checks CLIP_PRECISION again, as code may set it).
CLIP_PRECISIONS = ("auto", "fp32", "bf16", "int8", "fp16")
NEGATIVE_STRATEGIES = ("arithmetic", "best_score", "sum_scores")
LOG_FORMATS = ("plain", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# VECTOR_READ_CONSISTENCY by name (Qdrant's); a number asks that many replicas.
READ_CONSISTENCY_NAMES = ("majority", "quorum", "all")
# The alias a model switch flips on a Qdrant server (VECTOR_SEARCH_ALIAS).
SEARCH_ALIAS = "images-search"


def database_config(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    """`DATABASE_URL` when set, else SQLite tuned for concurrent use.

    WAL lets readers proceed during a write, the busy timeout makes a writer
    wait instead of failing with "database is locked", and IMMEDIATE
    transactions take the write lock up front so two writers cannot deadlock
    on a lock upgrade. Its connections persist across requests: opening one and
    running the pragmas cost a search by id about a twentieth of its time, and
    a file needs no health check.
    """
    url = env.get("DATABASE_URL")
    if url:
        return dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": data_dir / "db.sqlite3",
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        },
    }


def storages_config(env: Mapping[str, str], media_root: Path) -> dict[str, Any]:
    """S3 (django-storages) when a bucket is named, else files under `media_root`.

    Files are private either way: S3 objects get a private ACL and presigned,
    expiring URLs; local files are served only through a permission-checked view.
    """
    staticfiles = {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}
    bucket = env.get("AWS_STORAGE_BUCKET_NAME")
    if not bucket:
        return {
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(media_root)},
            },
            "staticfiles": staticfiles,
        }
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "default_acl": "private",
        "querystring_auth": True,
        "querystring_expire": env_int(env, "AWS_QUERYSTRING_EXPIRE", 3600, minimum=60),
        "file_overwrite": False,
        "signature_version": "s3v4",
    }
    if env_bool(env, "AWS_S3_ENCRYPTION"):
        # Server-side encryption of every object the app writes.
        options["object_parameters"] = {"ServerSideEncryption": "AES256"}
    optional = {
        "endpoint_url": "AWS_S3_ENDPOINT_URL",
        "access_key": "AWS_ACCESS_KEY_ID",
        "secret_key": "AWS_SECRET_ACCESS_KEY",
        "region_name": "AWS_S3_REGION_NAME",
        "addressing_style": "AWS_S3_ADDRESSING_STYLE",
        "location": "AWS_LOCATION",
    }
    for option, name in optional.items():
        if env.get(name):
            options[option] = env[name]
    return {
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        "staticfiles": staticfiles,
    }


def cache_config(env: Mapping[str, str]) -> dict[str, Any]:
    url = env.get("REDIS_URL")
    if url:
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "clipsearch",
            }
        }
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def vector_store_config(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    """Pick the Qdrant adapter: a server, qdrant-client's local mode, or the embedded engine."""
    # Here, not at the top: the settings module imports this one, and the
    # vectorstore package would load both Qdrant clients before settings exist.
    from vectorstore.tuning import IndexTuning

    tuning = IndexTuning.from_env(env)
    url = env.get("QDRANT_URL")
    if url:
        return {
            "BACKEND": "vectorstore.QdrantClientStore",
            "OPTIONS": {
                "url": url,
                "api_key": env.get("QDRANT_API_KEY") or None,
                "tuning": tuning,
                **vector_cluster_options(env),
            },
        }
    local_path = env.get("QDRANT_LOCAL_PATH")
    if local_path:
        return {
            "BACKEND": "vectorstore.QdrantClientStore",
            # Local mode has aliases too, so a switch goes the server's way.
            "OPTIONS": {
                "path": local_path,
                "tuning": tuning,
                "search_alias": vector_cluster_options(env)["search_alias"],
            },
        }
    path = env.get("QDRANT_EDGE_PATH") or str(data_dir / "qdrant")
    return {
        "BACKEND": "vectorstore.EdgeStore",
        # Graph search over what a background build (or `manage.py optimize_index`)
        # has put in the graph; the rest is scanned, which is exact.
        # VECTOR_EXACT=1 always scans.
        "OPTIONS": {
            "path": path,
            "tuning": tuning,
            "exact": env_bool(env, "VECTOR_EXACT"),
            # Unindexed points that start a graph build in a child process (0: never).
            "background_build_min": env_int(env, "VECTOR_BACKGROUND_BUILD_MIN", 20_000),
        },
    }


def vector_cluster_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The options a Qdrant server (a cluster) gets beside the index tuning.

    Topology goes to `create_collection` (unset: Qdrant's defaults, one shard
    per node and one replica); read consistency to every read; the timeouts
    and retries to every request. Raises `ConfigError` naming the variable.
    """
    replicas = optional_int(env, "VECTOR_REPLICAS")
    write_consistency = optional_int(env, "VECTOR_WRITE_CONSISTENCY")
    if write_consistency is not None and write_consistency > (replicas or 1):
        # Qdrant would accept the collection and then refuse every write.
        raise ConfigError(
            f"VECTOR_WRITE_CONSISTENCY={write_consistency} exceeds VECTOR_REPLICAS="
            f"{replicas or '1 (unset)'}: a write cannot be acknowledged by more replicas "
            "than there are"
        )
    timeout = env_int(env, "VECTOR_TIMEOUT_SECONDS", 10, minimum=1)
    return {
        "shards": optional_int(env, "VECTOR_SHARDS"),
        "replicas": replicas,
        "write_consistency": write_consistency,
        "read_consistency": read_consistency(env, "VECTOR_READ_CONSISTENCY"),
        "timeout": timeout,
        # Well under gunicorn's (default 30 s) worker timeout, so a search
        # that hangs answers 503 rather than having its worker killed.
        "search_timeout": env_int(env, "VECTOR_SEARCH_TIMEOUT_SECONDS", 5, minimum=1),
        "retries": env_int(env, "VECTOR_RETRIES", 2, maximum=10),
        "retry_backoff": env_float(env, "VECTOR_RETRY_BACKOFF_SECONDS", 0.2, maximum=30.0),
        "prefer_grpc": env_bool(env, "VECTOR_PREFER_GRPC"),
        "grpc_port": env_int(env, "QDRANT_GRPC_PORT", 6334, minimum=1, maximum=65535),
        "search_alias": (env.get("VECTOR_SEARCH_ALIAS") or "").strip() or SEARCH_ALIAS,
    }


def optional_int(env: Mapping[str, str], name: str, *, minimum: int = 1) -> int | None:
    """A whole number of at least `minimum`, or None when unset (the service's default)."""
    if not (env.get(name) or "").strip():
        return None
    return env_int(env, name, minimum, minimum=minimum)


def read_consistency(env: Mapping[str, str], name: str) -> int | str | None:
    """A read consistency: one of `READ_CONSISTENCY_NAMES`, a number of replicas (1 or
    more), or None when unset (Qdrant asks one replica)."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    if raw in READ_CONSISTENCY_NAMES:
        return raw
    raise ConfigError(
        f"{name} must be {', '.join(READ_CONSISTENCY_NAMES)} or a number of replicas, "
        f"got {env.get(name)!r}"
    )


def is_embedded_vector_store(config: Mapping[str, Any]) -> bool:
    """True when the store lives in this process's files (one opener per directory)."""
    return "path" in config.get("OPTIONS", {})


def parse_concepts(raw: str) -> dict[str, float]:
    """`"concept=0.27;other concept=0.3"` to `{"concept": 0.27, ...}`."""
    concepts: dict[str, float] = {}
    for item in raw.split(";"):
        if not item.strip():
            continue
        name, sep, threshold = item.rpartition("=")
        try:
            value = float(threshold)
        except ValueError:
            value = -2.0
        if not sep or not name.strip() or not -1.0 <= value <= 1.0:
            raise ConfigError(f"MODERATION_CONCEPTS: {item!r} is not 'concept=threshold' (-1..1)")
        concepts[name.strip()] = value
    return concepts


def task_time_limits(env: Mapping[str, str]) -> tuple[int, int]:
    """(soft, hard) task time limits in seconds, soft < hard.

    The soft limit lets a task put its work back; the hard one, which kills the
    process, must come after it. (Both should stay under the broker's
    visibility timeout: clipsite.W003.)
    """
    soft = env_int(env, "CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
    hard = env_int(env, "CELERY_TASK_TIME_LIMIT", soft + 60, minimum=1)
    if not soft < hard:
        raise ConfigError(
            f"CELERY_TASK_SOFT_TIME_LIMIT={soft} and CELERY_TASK_TIME_LIMIT={hard}: "
            "the soft limit must come before the hard one"
        )
    return soft, hard


def decode_threads(configured: int, *, device: str, cores: int) -> int:
    """Threads decoding ahead of the model: `configured`, or by default (0) every core on a
    GPU worker, whose model outpaces JPEG decoding on its host, and 2 beside a CPU model,
    which wants the cores itself."""
    if configured:
        return configured
    return max(1, cores) if device.startswith("cuda") else 2


def cuda_device_visible(env: Mapping[str, str], dev: Path = Path("/dev")) -> bool:
    """Whether this process can see an NVIDIA GPU, asked without loading torch (settings
    must stay light): a device node (/dev/nvidia0 ...), and CUDA_VISIBLE_DEVICES not
    hiding them all. Where torch was built without CUDA, set CLIP_DEVICE=cpu."""
    if env.get("CUDA_VISIBLE_DEVICES", "unset").strip() in {"", "-1"}:
        return False
    return any(name.name[len("nvidia") :].isdigit() for name in dev.glob("nvidia*"))
