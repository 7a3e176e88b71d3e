"""Prometheus metric definitions, and the middleware that times requests.

`clipsite.metrics` serves them at /metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)

REQUEST_SECONDS = Histogram(
    "clipsearch_request_seconds",
    "HTTP request latency by endpoint.",
    ["endpoint", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
SEARCH_STAGE_SECONDS = Histogram(
    "clipsearch_search_stage_seconds",
    "Search latency by stage: encode, vector_query, hydrate.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
IMAGES_INDEXED = Counter("clipsearch_images_indexed_total", "Images indexed.")
INDEX_FAILURES = Counter("clipsearch_index_failures_total", "Images marked failed.")
INDEX_SECONDS = Histogram(
    "clipsearch_index_seconds",
    "Time to index one coalesced batch of images (decode, encode, upsert).",
    buckets=LATENCY_BUCKETS,
)
ENCODER_BATCH = Histogram(
    "clipsearch_encoder_batch_size",
    "Images or texts per encoder call.",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
MODEL_LOAD_SECONDS = Gauge(
    "clipsearch_model_load_seconds", "Time to load the CLIP model.", ["model"]
)
QUEUE_DEPTH = Gauge("clipsearch_queue_depth", "Tasks waiting in the broker's default queue.")
GPU_MEMORY_BYTES = Gauge("clipsearch_gpu_memory_bytes", "GPU memory allocated by this process.")


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(**labels) if labels else histogram).observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    """Latency per endpoint, labelled by URL name (never the raw path: ids would explode it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        # Django has resolved the path on its way to the view; a response made
        # before that (a middleware's) is resolved here.
        match = getattr(request, "resolver_match", None)
        if match is None:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
        endpoint = (match.view_name or "unnamed") if match is not None else "not_found"
        REQUEST_SECONDS.labels(endpoint, request.method or "", str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response
