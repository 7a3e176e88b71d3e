"""Request and image ids on every log line, from the API through the worker.

A request gets an id (the caller's `X-Request-ID`, or a new one), returned in
the response header. Tasks queued by that request carry it in their headers,
and a worker sets it, with the image id, around each task.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

request_id: ContextVar[str] = ContextVar("request_id", default="")
image_id: ContextVar[str] = ContextVar("image_id", default="")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContextFilter(logging.Filter):
    """Adds `request_id` and `image_id` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.image_id = image_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        token = request_id.set(given if _SAFE_ID.match(given) else uuid.uuid4().hex)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id.get()
            return response
        finally:
            request_id.reset(token)


def task_headers() -> dict[str, str]:
    """Headers that carry the current request id into a queued task."""
    current = request_id.get()
    return {"request_id": current} if current else {}


def bind_task_context(task: Any, args: Any, kwargs: Any) -> None:
    """Celery `task_prerun`: the request id from the headers, the image id from the arguments.

    A batch task (celery-batches) gets a list of requests; each image's ids
    are bound around its own work instead (`image_log_context`).
    """
    # A worker exposes custom headers as request attributes; eager runs keep them in .headers.
    headers = getattr(task.request, "headers", None) or {}
    given = getattr(task.request, "request_id", None) or headers.get("request_id")
    request_id.set(given or task.request.id or "")
    if args and isinstance(args[0], list):
        return
    first = kwargs.get("image_id") if kwargs else None
    image_id.set(str(first or (args[0] if args else "")))


@contextmanager
def image_log_context(image: Any, request: str | None = None) -> Iterator[None]:
    """Log lines inside carry `image`'s id (and `request`, the id of the request that queued it)."""
    image_token = image_id.set(str(image.pk))
    request_token = request_id.set(request) if request else None
    try:
        yield
    finally:
        image_id.reset(image_token)
        if request_token is not None:
            request_id.reset(request_token)


def clear_task_context(**kwargs: Any) -> None:
    request_id.set("")
    image_id.set("")
