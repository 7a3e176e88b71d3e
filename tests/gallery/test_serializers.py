"""ImageSerializer builds its output directly: it is what DRF's walk over its fields gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework import serializers

from gallery.api.serializers import ImageSerializer
from gallery.models import Image
from search.api.serializers import SearchResultSerializer
from search.services import SearchResult, Snippet
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _image(owner: Any, n: int, **fields: Any) -> Image:
    return Image.objects.create(
        owner=owner,
        file=f"images/{n}.png",
        sha256=f"{n:064x}",
        format="PNG",
        width=96,
        height=64,
        mode="RGB",
        size=1000 + n,
        **fields,
    )


def _walked(serializer: serializers.Serializer[Any], instance: Any) -> Any:
    """DRF's own to_representation: each field looked up by its source and converted."""
    return serializers.Serializer.to_representation(serializer, instance)


def test_image_serializer_gives_what_drfs_field_walk_gives() -> None:
    alice = make_user("alice")
    images = [
        _image(alice, 1),
        _image(
            alice,
            2,
            original_filename="beach.jpg",
            taken_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            visibility=Image.Visibility.PUBLIC,
            status=Image.Status.FAILED,
            error="unreadable",
            tags=["dog", "beach"],
            model_id="demo-clip-shapes",
            moderation=Image.Moderation.FLAGGED,
        ),
    ]
    images.append(Image.objects.get(pk=images[1].pk))  # as loaded, not as created
    request = RequestFactory().get("/", HTTP_HOST="127.0.0.1")
    context = {"request": request}

    for image in images:
        assert ImageSerializer(image, context=context).data == _walked(
            ImageSerializer(image, context=context), image
        )
    results = [
        SearchResult(image=image, score=0.25 * n, similarity=0.2 * n)
        for n, image in enumerate(images)
    ]
    results.append(
        SearchResult(
            image=images[0],
            score=0.03,
            similarity=0.1,
            matched=("semantic", "text"),
            snippet=Snippet(source="text", text="gate B12", highlights=((0, 4), (5, 8))),
        )
    )
    listed = SearchResultSerializer(results, many=True, context=context).data
    walked = SearchResultSerializer(results, many=True, context=context)
    assert listed == [_walked(walked.child, result) for result in results]  # type: ignore[arg-type]
