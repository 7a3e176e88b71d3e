"""Plumbing shared by every app: the error shape (API and pages), and pagination."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBase,
    HttpResponseServerError,
    JsonResponse,
)
from django.shortcuts import render
from django.template import loader
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    return {"error": error}


def _first_code(codes: Any) -> str | None:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        codes = list(codes.values())
    if isinstance(codes, list):
        for item in codes:
            found = _first_code(item)
            if found:
                return found
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as `{"error": {"code", "message", "detail"?}}`."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.detail), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    if isinstance(exc, exceptions.ValidationError):
        code, message, detail = "invalid", "The request is not valid.", exc.detail
    else:
        data = response.data if isinstance(response.data, dict) else {}
        # simplejwt puts its own stable code ("token_not_valid") in the body.
        code = str(data.get("code") or _first_code(exc.get_codes()) or exc.default_code)
        message = str(data.get("detail") or exc.detail)
        detail = data.get("messages")  # type: ignore[assignment]
    response.data = error_body(code, message, detail)
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBase:
    """The project's 404: the JSON error shape under /api/, a page (404.html) elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponseBase:
    """The project's 500, in the same two shapes."""
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "An unexpected error occurred. It has been logged."),
            status=500,
        )
    # No request context: whatever failed may fail again while rendering it.
    return HttpResponseServerError(loader.get_template("500.html").render())


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
