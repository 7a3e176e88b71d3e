"""The one domain error type. `core.api.exception_handler` renders it."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure the client can understand: a stable `code`, a human message, an HTTP status."""

    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        if status is not None:
            self.status = status


class ServiceUnavailable(ApplicationError):
    """A backing service (encoder, vector store) cannot answer now; retrying may help."""

    status = 503
