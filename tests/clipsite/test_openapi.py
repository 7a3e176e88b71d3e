from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_is_valid_and_complete(tmp_path: object) -> None:
    out = io.StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    import json

    schema = json.loads(out.getvalue())
    paths = schema["paths"]
    for path in (
        "/api/search/",
        "/api/search/image/",
        "/api/search/batch/",
        "/api/search/feedback/",
        "/api/classify/",
        "/api/images/",
        "/api/images/{id}/similar/",
        "/api/duplicates/",
        "/api/keys/",
    ):
        assert path in paths, path
    search = paths["/api/search/"]["post"]
    assert set(search["responses"]) >= {"200", "400", "401", "429"}
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_schema_and_docs_are_served() -> None:
    client = Client()
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"CLIP Search API" in schema.content
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content.lower()
