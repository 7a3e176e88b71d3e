from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from gallery.api.serializers import ImageSerializer
from search.services import MAX_TOP_K


class FiltersField(serializers.Field[Any, Any, Any, Any]):
    """A JSON object, given as JSON or (in multipart forms) as a JSON string."""

    default_error_messages = {"invalid": "filters must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class TextSearchSerializer(serializers.Serializer[None]):
    query = serializers.CharField(max_length=1000, trim_whitespace=True)
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=10)
    filters = FiltersField(required=False, allow_null=True)


class ImageSearchSerializer(serializers.Serializer[None]):
    file = serializers.FileField(allow_empty_file=True)
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=10)
    filters = FiltersField(required=False, allow_null=True)


class SearchResultSerializer(serializers.Serializer[None]):
    image = ImageSerializer()
    score = serializers.FloatField()
