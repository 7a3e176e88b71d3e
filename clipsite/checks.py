"""System checks that catch configurations that cannot work, with stable ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from clipsite.config import CLIP_PRECISIONS, READ_CONSISTENCY_NAMES, is_embedded_vector_store
from gallery.camera_raw import rawpy_module
from gallery.ocr import ocr_unavailable_reason


@register()
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    broker = not settings.CELERY_TASK_ALWAYS_EAGER
    if broker and is_embedded_vector_store(settings.VECTOR_STORE):
        messages.append(
            Error(
                "CELERY_BROKER_URL is set, so indexing runs in separate worker processes, "
                "but the vector store is embedded (a directory that only one process may open).",
                hint="Set QDRANT_URL to a Qdrant server, or unset CELERY_BROKER_URL to run "
                "tasks in the web process.",
                id="clipsite.E001",
            )
        )
    if broker and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        messages.append(
            Warning(
                "Celery workers and the web server share one SQLite file.",
                hint="Set DATABASE_URL to PostgreSQL for a multi-process deployment.",
                id="clipsite.W001",
            )
        )
    model = str(settings.CLIP_MODEL)
    looks_local = model.startswith((".", "/", "~")) or Path(model).expanduser().exists()
    if looks_local and not (Path(model).expanduser() / "config.json").is_file():
        messages.append(
            Error(
                f"CLIP_MODEL={model!r} looks like a local directory but holds no "
                "Hugging Face model (config.json is missing).",
                hint="Point CLIP_MODEL at a directory saved with save_pretrained(), "
                "or at a Hugging Face id such as openai/clip-vit-base-patch32.",
                id="clipsite.E002",
            )
        )
    # The environment is checked as settings load; this catches a value set in code.
    if settings.CLIP_PRECISION not in CLIP_PRECISIONS:
        messages.append(
            Error(
                f"CLIP_PRECISION={settings.CLIP_PRECISION!r} is not a precision.",
                hint="Use auto (int8 on a CPU, fp16 on CUDA), fp32, bf16, int8 or fp16.",
                id="clipsite.E003",
            )
        )
    if settings.UPLOAD_RAW_ENABLED and rawpy_module() is None:
        messages.append(
            Warning(
                "UPLOAD_RAW_ENABLED is on, but rawpy is not installed: camera RAW files "
                "(DNG, CR2, NEF, ARW) are refused as unsupported_format.",
                hint="Install the raw extra (pip install '.[raw]'), or unset UPLOAD_RAW_ENABLED.",
                id="clipsite.W002",
            )
        )
    ocr_reason = ocr_unavailable_reason() if settings.OCR_ENABLED else None
    if ocr_reason is not None:
        messages.append(
            Warning(
                f"OCR_ENABLED is on, but text recognition is off: {ocr_reason}. "
                "Pictures are indexed without their text.",
                hint="Install Tesseract's language data (apt-get install "
                "tesseract-ocr-eng, one tesseract-ocr-<lang> per OCR_LANGUAGES entry) "
                "or set TESSDATA_PREFIX, or unset OCR_ENABLED.",
                id="clipsite.W004",
            )
        )
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    if broker and visibility <= settings.CELERY_TASK_TIME_LIMIT:
        messages.append(
            Warning(
                f"CELERY_TASK_TIME_LIMIT={settings.CELERY_TASK_TIME_LIMIT} is not below "
                f"CELERY_VISIBILITY_TIMEOUT={visibility}: Redis hands a task still running "
                "past the visibility timeout to a second worker.",
                hint="Raise CELERY_VISIBILITY_TIMEOUT, or lower the task time limits.",
                id="clipsite.W003",
            )
        )
    return messages


@register()
def check_vector_cluster(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The Qdrant cluster options in `VECTOR_STORE` (the environment is checked as settings
    load, by `clipsite.config.vector_cluster_options`; this catches values set in code)."""
    options = settings.VECTOR_STORE.get("OPTIONS", {})
    messages: list[CheckMessage] = []
    counts = {
        "shards": "VECTOR_SHARDS",
        "replicas": "VECTOR_REPLICAS",
        "write_consistency": "VECTOR_WRITE_CONSISTENCY",
        "timeout": "VECTOR_TIMEOUT_SECONDS",
        "search_timeout": "VECTOR_SEARCH_TIMEOUT_SECONDS",
    }
    for option, name in counts.items():
        value = options.get(option)
        if value is not None and not (isinstance(value, int) and value >= 1):
            messages.append(
                Error(
                    f"{name}={value!r} is not a whole number of at least 1.",
                    hint=f"Set {name} to 1 or more, or unset it for the default.",
                    id="clipsite.E011",
                )
            )
    replicas, factor = options.get("replicas"), options.get("write_consistency")
    if isinstance(factor, int) and isinstance(replicas, int | None) and factor > (replicas or 1):
        messages.append(
            Error(
                f"VECTOR_WRITE_CONSISTENCY={factor} exceeds VECTOR_REPLICAS={replicas or 1}: "
                "Qdrant would create the collection and then refuse every write.",
                hint="Keep the write consistency at or below the replication factor.",
                id="clipsite.E012",
            )
        )
    consistency = options.get("read_consistency")
    valid_number = isinstance(consistency, int) and consistency >= 1
    if consistency is not None and not valid_number and consistency not in READ_CONSISTENCY_NAMES:
        messages.append(
            Error(
                f"VECTOR_READ_CONSISTENCY={consistency!r} is not a read consistency.",
                hint="Use majority, quorum, all or a number of replicas, or unset it.",
                id="clipsite.E013",
            )
        )
    retries = options.get("retries", 0)
    backoff = options.get("retry_backoff", 0.0)
    if not (isinstance(retries, int) and 0 <= retries <= 10) or not (
        isinstance(backoff, int | float) and 0 <= backoff <= 30
    ):
        messages.append(
            Error(
                f"VECTOR_RETRIES={retries!r} and VECTOR_RETRY_BACKOFF_SECONDS={backoff!r}: "
                "retries must be 0..10 and the backoff 0..30 seconds.",
                hint="A bounded retry keeps a failing store from holding requests.",
                id="clipsite.E014",
            )
        )
    return messages
