"""GET /metrics: the Prometheus exposition of `core.metrics`, with the gauges read at scrape time.

With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR so that every
process writes its samples there and /metrics aggregates them.
"""

from __future__ import annotations

import hmac
import os
import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import REGISTRY

from core.metrics import GPU_MEMORY_BYTES, QUEUE_DEPTH
from gallery.status import broker_queue_depth


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. Allowed from `METRICS_ALLOWED_IPS`, or with `METRICS_TOKEN`."""
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    _refresh_gauges()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header, f"Bearer {token}"):
        return True
    return request.META.get("REMOTE_ADDR") in settings.METRICS_ALLOWED_IPS


def _refresh_gauges() -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            QUEUE_DEPTH.set(broker_queue_depth())
        except Exception:  # noqa: BLE001  (a scrape must not fail because the broker is down)
            QUEUE_DEPTH.set(float("nan"))
    # Only a process that loaded the model has torch imported, or GPU memory to report.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        GPU_MEMORY_BYTES.set(torch.cuda.memory_allocated())
