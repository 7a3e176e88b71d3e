"""CLIP Search settings: one module for both deployments.

With nothing set, everything is embedded (SQLite, files on disk, tasks in
process, the embedded Qdrant engine, a local-memory cache) and the app runs
offline. Each production service is switched on by its own environment
variable; see README.md, "Configuration".
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv
from kombu import Queue

from clipsite import config
from core.env import env_bool, env_choice, env_float, env_int, env_list, env_rate
from search.modes import SEARCH_MODES

# Lets typed generics such as ModelAdmin[Image] be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# `manage.py` and the run command share configuration through this file, so a
# shell command sees the same database, media and vector store as the server.
load_dotenv(os.environ.get("CLIPSEARCH_ENV_FILE") or BASE_DIR / ".env", override=False)
env = os.environ

DEV = env_bool(env, "CLIPSEARCH_DEV")
DEBUG = env_bool(env, "DJANGO_DEBUG", default=False)

SECRET_KEY = env.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEV:
        raise ImproperlyConfigured(
            "SECRET_KEY is required. Set it in the environment or in .env "
            "(the run command writes one), or set CLIPSEARCH_DEV=1 for development."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105
# Old keys, still accepted for sessions and signatures during a rotation.
SECRET_KEY_FALLBACKS = env_list(env, "SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list(env, "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list(env, "CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = Path(env.get("CLIPSEARCH_DATA_DIR") or BASE_DIR / "var")
# The embedded default keeps its database, media and vectors here.
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "clipsite",
    "accounts",
    "gallery",
    "search",
    "workers",
]

MIDDLEWARE = [
    "core.logcontext.RequestIdMiddleware",
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "clipsite.urls"
WSGI_APPLICATION = "clipsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": config.database_config(env, DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = config.cache_config(env)

MEDIA_ROOT = DATA_DIR / "media"
STORAGES = config.storages_config(env, MEDIA_ROOT)
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG and not DEV:
    SESSION_COOKIE_SECURE = env_bool(env, "SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

RENDERERS = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": RENDERERS,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Counters live in the default cache: Redis in production, so every
    # process shares one budget per user.
    "DEFAULT_THROTTLE_RATES": {
        "search": env_rate(env, "THROTTLE_SEARCH", "300/min"),
        "feedback": env_rate(env, "THROTTLE_FEEDBACK", "300/min"),
        "upload": env_rate(env, "THROTTLE_UPLOAD", "120/min"),
        "auth": env_rate(env, "THROTTLE_AUTH", "30/min"),
        "login_ip": env_rate(env, "THROTTLE_LOGIN_IP", "30/min"),
        "login_username": env_rate(env, "THROTTLE_LOGIN_USERNAME", "10/min"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int(env, "JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int(env, "JWT_REFRESH_DAYS", 7, minimum=1)),
    "SIGNING_KEY": SECRET_KEY,
    # Each refresh returns a new refresh token and blacklists the old one, so
    # a stolen refresh token stops working once its owner refreshes.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}

# GET /metrics (Prometheus): from these addresses, or with "Authorization: Bearer <token>".
METRICS_ALLOWED_IPS = env_list(env, "METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = env.get("METRICS_TOKEN", "")

SPECTACULAR_SETTINGS = {
    "TITLE": "CLIP Search API",
    "DESCRIPTION": (
        "Semantic image search. Authenticate with `Authorization: Bearer <access token>` "
        "(from /api/auth/token/) or `Authorization: Api-Key <key>`. Errors have one shape: "
        '`{"error": {"code": "...", "message": "...", "detail": ...}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery. Without a broker, tasks run eagerly in the calling process (after the
# upload's transaction commits), which keeps the embedded default one process.
CELERY_TASK_ALWAYS_EAGER = not env.get("CELERY_BROKER_URL")
CELERY_BROKER_URL = env.get("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Late acks plus one prefetched message: a worker killed mid-encode leaves the
# message on the broker for another worker, and idempotent upserts make the
# re-run harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_CONCURRENCY = env_int(env, "CELERY_WORKER_CONCURRENCY", 1, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Two queues, so that maintenance never holds a GPU: indexing on `index` (the
# GPU workers run `-Q index`), beat's sweeps and reconcile on `maintenance` (a
# CPU worker). A worker started without -Q serves both; a task without a route
# lands on `maintenance`, never on a GPU by accident.
CELERY_TASK_QUEUES = (Queue("index"), Queue("maintenance"))
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_ROUTES = {
    "workers.tasks.index_image_task": {"queue": "index"},
    "workers.tasks.index_video_task": {"queue": "index"},
    "workers.tasks.backfill_text_task": {"queue": "index"},
    "workers.tasks.requeue_stale_task": {"queue": "maintenance"},
    "workers.tasks.reconcile_task": {"queue": "maintenance"},
    "workers.tasks.reconcile_chunk_task": {"queue": "maintenance"},
    "workers.tasks.feedback_prune_task": {"queue": "maintenance"},
}
# How long a delivered but unacknowledged task waits before Redis hands it to
# another worker (its worker died). Longer than the slowest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int(env, "CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
}
# Every task has a time limit: the soft one raises SoftTimeLimitExceeded in the
# task (an indexing batch puts its unfinished images back for a retry), the hard
# one kills the process running it (its message, unacknowledged, is delivered
# again). Prefork enforces both; a solo worker (the GPU worker) arms them itself
# (workers.timelimits). Both belong under the visibility timeout, or Redis would
# hand a running task to a second worker (clipsite.W003).
CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = config.task_time_limits(env)

# CLIP. A Hugging Face id or a local directory in Hugging Face format.
CLIP_MODEL = env.get("CLIP_MODEL") or "openai/clip-vit-base-patch32"
if not Path(CLIP_MODEL).is_absolute() and (BASE_DIR / CLIP_MODEL / "config.json").is_file():
    # A model shipped in the repo, named relative to it (models/...).
    CLIP_MODEL = str(BASE_DIR / CLIP_MODEL)
CLIP_DEVICE = env.get("CLIP_DEVICE") or None  # None: CUDA when available, else CPU.
# Images per forward; 0: 16 on a CPU, 128 on CUDA (encoder.clip.default_batch_size).
CLIP_BATCH_SIZE = env_int(env, "CLIP_BATCH_SIZE", 0, minimum=0)
# Precision of both towers: fp32, bf16, int8 (CPU), fp16 (CUDA), or auto: the
# fastest that keeps fp32's vectors, measured on this host at the first load
# and remembered in CLIP_CALIBRATION_FILE (encoder.precision).
CLIP_PRECISION = env_choice(env, "CLIP_PRECISION", "auto", config.CLIP_PRECISIONS)
CLIP_CALIBRATION_FILE = Path(env.get("CLIP_CALIBRATION_FILE") or DATA_DIR / "precision.json")
# Concurrent queries share a forward (encoder.batching): at most this many
# rows (1: each alone), waiting at most CLIP_QUERY_BATCH_WAIT_MS for company
# when others are already queued (bench.api measured both).
CLIP_QUERY_BATCH = env_int(env, "CLIP_QUERY_BATCH", 32, minimum=1)
CLIP_QUERY_BATCH_WAIT_MS = env_float(env, "CLIP_QUERY_BATCH_WAIT_MS", 1.0, minimum=0.0)
# Torch threads per process; 0: the cores divided by CELERY_WORKER_CONCURRENCY.
CLIP_THREADS = env_int(env, "CLIP_THREADS", 0, minimum=0)
# Photos are decoded at the smallest JPEG scale with at least this many pixels
# on the short side (the largest CLIP input, 336) and the thumbnail's long side.
DECODE_SHORT_SIDE = env_int(env, "DECODE_SHORT_SIDE", 336, minimum=32)

VECTOR_STORE = config.vector_store_config(env, DATA_DIR)

# Upload limits. The pixel cap is checked from the header, before decoding,
# so a decompression bomb never reaches memory.
UPLOAD_MAX_BYTES = env_int(env, "UPLOAD_MAX_BYTES", 50 * 1024 * 1024, minimum=1)
UPLOAD_MAX_PIXELS = env_int(env, "UPLOAD_MAX_PIXELS", 100_000_000, minimum=1)
# Names as Pillow gives them (an MPO, a camera's Multi-Picture JPEG, counts
# as JPEG); AVIF is Pillow's own plugin, HEIF pillow-heif's.
UPLOAD_ALLOWED_FORMATS = env_list(
    env, "UPLOAD_ALLOWED_FORMATS", ["JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF", "TIFF"]
)
# Camera RAW files (DNG, CR2, NEF, ARW), developed by LibRaw through the
# optional rawpy (pip install '.[raw]'): off by default, as LibRaw is a large
# C parser of files that come from users (clipsite.W002 warns when rawpy is missing).
UPLOAD_RAW_ENABLED = env_bool(env, "UPLOAD_RAW_ENABLED", False)
# A public image's original is served to others without its GPS position
# (gallery.gpsstrip, edited out losslessly); its owner always gets the file as uploaded.
STRIP_PUBLIC_GPS = env_bool(env, "STRIP_PUBLIC_GPS", True)
# Text in pictures, recognised at index time on the workers by Tesseract 5
# (gallery.ocr; clipsite.W004 warns when it or a language's data is missing).
# Languages as Tesseract names them ("eng,deu"); each one slows recognition.
OCR_ENABLED = env_bool(env, "OCR_ENABLED", True)
OCR_LANGUAGES = env_list(env, "OCR_LANGUAGES", ["eng"])
# Seconds of recognition per picture before its text is given up (empty);
# the slowest picture of bench/ocr.py took 0.5 s.
OCR_TIME_LIMIT = env_float(env, "OCR_TIME_LIMIT", 3.0, minimum=0.1)
# The long side pictures are downscaled to first (bench/ocr.py: 1280 loses a
# third of a 1080p screenshot's small text; 2048 reads 3 % more in 2.2x the time).
OCR_MAX_SIDE = env_int(env, "OCR_MAX_SIDE", 1600, minimum=320)
UPLOAD_MAX_SIDE = env_int(env, "UPLOAD_MAX_SIDE", 30_000, minimum=1)
UPLOAD_MAX_ASPECT = env_int(env, "UPLOAD_MAX_ASPECT", 50, minimum=1)
# EXIF, XMP, comments and text chunks together; the ICC profile apart.
UPLOAD_MAX_METADATA_BYTES = env_int(env, "UPLOAD_MAX_METADATA_BYTES", 256 * 1024, minimum=1)
# A colour profile is how the pixels are to be read, not a note about them: a
# camera's or a printer's profile with lookup tables runs to megabytes.
UPLOAD_MAX_ICC_BYTES = env_int(env, "UPLOAD_MAX_ICC_BYTES", 8 * 1024 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
THUMBNAIL_SIZE = env_int(env, "THUMBNAIL_SIZE", 384, minimum=32)

# Videos (gallery.videoprobe): each limit is refused with its own error code.
VIDEO_MAX_BYTES = env_int(env, "VIDEO_MAX_BYTES", 2 * 1024**3, minimum=1)
VIDEO_MAX_SECONDS = env_int(env, "VIDEO_MAX_SECONDS", 3 * 3600, minimum=1)
# 8K: the long side, and the short side of a 16:9 frame at that width.
VIDEO_MAX_SIDE = env_int(env, "VIDEO_MAX_SIDE", 7680, minimum=16)
VIDEO_MAX_FRAME_RATE = env_int(env, "VIDEO_MAX_FRAME_RATE", 240, minimum=1)
# Moments: at least one frame this often within a long scene, and at most this many.
VIDEO_FRAME_INTERVAL = env_float(env, "VIDEO_FRAME_INTERVAL", 2.0, minimum=0.1)
VIDEO_MAX_MOMENTS = env_int(env, "VIDEO_MAX_MOMENTS", 2000, minimum=1)
INDEX_MAX_RETRIES = env_int(env, "INDEX_MAX_RETRIES", 5)
# A worker coalesces queued indexing messages into one batch: up to this many,
# waiting at most this long for more (workers.tasks.index_image_task).
INDEX_COALESCE_MAX = env_int(env, "INDEX_COALESCE_MAX", 64, minimum=1)
INDEX_COALESCE_SECONDS = env_float(env, "INDEX_COALESCE_SECONDS", 0.5)
# celery-batches can only gather as many messages as the worker has reserved:
# below INDEX_COALESCE_MAX, batches would top out at the prefetch. Derived, not
# configured, so the two cannot disagree (a maintenance worker passes
# --prefetch-multiplier=1 on its command line instead).
CELERY_WORKER_PREFETCH_MULTIPLIER = INDEX_COALESCE_MAX
# Threads that decode and resize ahead of the model (encoder.pipeline). Unset
# or 0: the host's cores on a GPU worker, which JPEG decoding bounds, else 2
# (config.decode_threads; the device as the encoder will pick it, without torch).
INDEX_DECODE_THREADS = config.decode_threads(
    env_int(env, "INDEX_DECODE_THREADS", 0, minimum=0),
    device=CLIP_DEVICE or ("cuda" if config.cuda_device_visible(env) else "cpu"),
    cores=os.cpu_count() or 1,
)
# The requeue sweep re-queues images pending for longer than this, and claims
# them for as long again, so that a backlog is never queued twice meanwhile.
INDEX_REQUEUE_MINUTES = env_int(env, "INDEX_REQUEUE_MINUTES", 15, minimum=1)
# Reconcile compares rows and vectors in id ranges of about this many images,
# one task each (gallery.reconcile).
RECONCILE_CHUNK_ROWS = env_int(env, "RECONCILE_CHUNK_ROWS", 10_000, minimum=1)

# Logs: plain text by default; LOG_FORMAT=json (production) for one JSON
# object per line. Both carry the request id and the image id.
LOG_FORMAT = env_choice(env, "LOG_FORMAT", "plain", config.LOG_FORMATS)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(image_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(image_id)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {
        "handlers": ["console"],
        "level": env_choice(env, "LOG_LEVEL", "INFO", config.LOG_LEVELS),
    },
    "loggers": {"httpx": {"level": "WARNING"}},
}

# Auto-tags: each image is classified against this vocabulary (plus the
# labels managed in the admin) when it is indexed.
AUTO_TAG_LABELS = env_list(env, "AUTO_TAG_LABELS", [])
AUTO_TAG_MAX = env_int(env, "AUTO_TAG_MAX", 3, minimum=0)
AUTO_TAG_MIN_PROBABILITY = env_float(env, "AUTO_TAG_MIN_PROBABILITY", 0.2, maximum=1.0)

# Search.
SEARCH_MAX_LIMIT = 100
# How a negative term steers a query: "arithmetic" (subtract it from the
# query vector) or Qdrant's recommend scoring ("best_score", "sum_scores").
# bench/negatives.py on the shipped demo model: arithmetic at 0.3 ranked best
# (precision@10 0.881, best_score 0.858 with 4% of the negated colour left).
SEARCH_NEGATIVE_STRATEGY = env_choice(
    env, "SEARCH_NEGATIVE_STRATEGY", "arithmetic", config.NEGATIVE_STRATEGIES
)
SEARCH_NEGATIVE_WEIGHT = env_float(env, "SEARCH_NEGATIVE_WEIGHT", 0.3)
SEARCH_FACET_WINDOW = env_int(env, "SEARCH_FACET_WINDOW", 500, minimum=1)
# Text queries: "hybrid" fuses CLIP's ranking with the lexical one (recognised
# text, caption, file name, tags, place, camera) inside Qdrant; "semantic" is
# CLIP alone, "text" the lexical side alone. A request's `mode` overrides it.
SEARCH_DEFAULT_MODE = env_choice(env, "SEARCH_DEFAULT_MODE", "hybrid", SEARCH_MODES)
# How many candidates each side hands to the fusion (reciprocal rank).
SEARCH_FUSION_WINDOW = env_int(env, "SEARCH_FUSION_WINDOW", 100, minimum=1)
# The Snowball language of lexical terms (stemming and stopwords).
LEXICAL_LANGUAGE = env.get("LEXICAL_LANGUAGE", "english")
# Feedback on results (search.feedback) is kept this long after it was last
# changed, then pruned by beat (workers.tasks.feedback_prune_task): it names
# what a person searched for.
FEEDBACK_RETENTION_DAYS = env_int(env, "FEEDBACK_RETENTION_DAYS", 180, minimum=1)
# A cosine similarity, so in -1..1.
DUPLICATE_THRESHOLD = env_float(env, "DUPLICATE_THRESHOLD", 0.95, minimum=-1.0, maximum=1.0)

# Moderation: "concept=cosine threshold" pairs separated by ";", e.g.
# "a violent scene=0.27;a nude person=0.28". Images at or above a threshold
# are flagged for review; queries this close to a concept (plus the margin)
# are refused, as are queries with a blocklisted word.
MODERATION_CONCEPTS = config.parse_concepts(env.get("MODERATION_CONCEPTS", ""))
MODERATION_QUERY_BLOCKLIST = env_list(env, "MODERATION_QUERY_BLOCKLIST", [])
# Added to a cosine threshold (-1..1), so no margin outside -2..2 changes anything.
MODERATION_QUERY_MARGIN = env_float(env, "MODERATION_QUERY_MARGIN", 0.0, minimum=-2.0, maximum=2.0)

# Web pages (gallery/views.py). Accounts are made by an admin unless sign-up
# is switched on: an open sign-up form lets anyone fill the disk and the index.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery:home"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = env_bool(env, "SIGNUP_ENABLED", default=False)
