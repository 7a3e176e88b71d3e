"""OpenAPI (drf-spectacular) pieces shared by the apps: the error shape."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(help_text="Stable, machine-readable."),
                "message": serializers.CharField(help_text="For people."),
                "detail": serializers.JSONField(required=False),
            },
        )
    },
)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses an endpoint documents, all in the one error shape."""
    words = {
        400: "Invalid input: see error.code",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found, or not yours to see",
        409: "Duplicate",
        429: "Rate limited (Retry-After)",
        503: "A backing service is unavailable",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=words[code]) for code in codes}
