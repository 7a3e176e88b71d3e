from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gallery.api.serializers import ImageSerializer, VideoSerializer
from search.models import Feedback
from search.modes import SEARCH_MODES
from search.services import MomentHit, SearchRequest, TextTerm, VideoResult


@extend_schema_field({"description": "JSON (in multipart forms: a JSON string)."})
class JSONValueField(serializers.Field[Any, Any, Any, Any]):
    """A JSON value given as JSON, or (in multipart forms) as a JSON string."""

    def __init__(self, *, kind: type | tuple[type, ...], **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and self.kind is not str:
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("Not valid JSON.") from None
        if not isinstance(data, self.kind):
            raise serializers.ValidationError("Wrong type.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {
                "type": "array",
                "maxItems": 16,
                "items": {
                    "oneOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "properties": {
                                "text": {"type": "string"},
                                "weight": {
                                    "type": "number",
                                    "minimum": 0,
                                    "exclusiveMinimum": True,
                                    "maximum": 10,
                                },
                            },
                            "required": ["text"],
                        },
                    ]
                },
            },
        ],
        "description": 'A text, or weighted terms: ["dog", {"text": "beach", "weight": 0.5}].',
    }
)
class QueryField(serializers.Field[Any, Any, Any, Any]):
    """`"text"`, or a list of texts and `{"text": ..., "weight": ...}` terms."""

    def to_internal_value(self, data: Any) -> tuple[TextTerm, ...]:
        if isinstance(data, str):
            stripped = data.strip()
            if stripped.startswith("["):  # a JSON list sent as a form field
                try:
                    data = json.loads(stripped)
                except ValueError:
                    raise serializers.ValidationError("Not valid JSON.") from None
            else:
                data = [data]
        if not isinstance(data, list) or not 1 <= len(data) <= 16:
            raise serializers.ValidationError("Give a text, or a list of 1 to 16 terms.")
        terms = []
        for item in data:
            if isinstance(item, str):
                item = {"text": item}
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise serializers.ValidationError('Each term is a text or {"text", "weight"}.')
            text = item["text"].strip()
            weight = item.get("weight", 1.0)
            if not text or len(text) > 1000:
                raise serializers.ValidationError("Each text has 1 to 1000 characters.")
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not 0 < weight <= 10
            ):
                raise serializers.ValidationError("A weight is a number in (0, 10].")
            terms.append(TextTerm(text=text, weight=float(weight)))
        return tuple(terms)

    def to_representation(self, value: Any) -> Any:
        return value


class SearchSerializer(serializers.Serializer[None]):
    query = QueryField(required=False)
    image_id = serializers.UUIDField(required=False)
    negative = serializers.ListField(
        child=serializers.CharField(max_length=1000), required=False, max_length=16
    )
    negative_image_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=16
    )
    text_weight = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.5)
    top_k = serializers.IntegerField(
        min_value=1, max_value=settings.SEARCH_MAX_LIMIT, required=False
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=settings.SEARCH_MAX_LIMIT, required=False
    )
    offset = serializers.IntegerField(min_value=0, max_value=10_000, default=0)
    cursor = serializers.CharField(required=False, max_length=2000)
    min_score = serializers.FloatField(min_value=-1.0, max_value=1.0, required=False)
    filters = JSONValueField(kind=dict, required=False, allow_null=True)
    facets = serializers.BooleanField(default=False)
    mode = serializers.ChoiceField(
        choices=SEARCH_MODES,
        required=False,
        help_text="hybrid (CLIP and words fused; the default for text), semantic (CLIP "
        "alone) or text (words alone: recognised text, caption, file name, tags, place).",
    )

    def to_request(self, **extra: Any) -> SearchRequest:
        data = self.validated_data
        return SearchRequest(
            texts=data.get("query", ()),
            image_id=data.get("image_id"),
            negative_texts=tuple(data.get("negative", ())),
            negative_image_ids=tuple(data.get("negative_image_ids", ())),
            text_weight=data["text_weight"],
            limit=data.get("limit") or data.get("top_k") or 10,
            offset=data["offset"],
            cursor=data.get("cursor"),
            min_score=data.get("min_score"),
            filters=data.get("filters"),
            facets=data["facets"],
            mode=data.get("mode"),
            **extra,
        )


class ImageSearchSerializer(SearchSerializer):
    file = serializers.FileField(allow_empty_file=True)
    negative = JSONValueField(kind=(list, str), required=False)  # type: ignore[assignment]

    def validate_negative(self, value: Any) -> list[str]:
        values = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) and v.strip() for v in values) or len(values) > 16:
            raise serializers.ValidationError("Give up to 16 texts.")
        return [v.strip() for v in values]


class BatchSearchSerializer(serializers.Serializer[None]):
    searches = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=32)


class ClassifySerializer(serializers.Serializer[None]):
    labels = JSONValueField(kind=list)
    image_id = serializers.UUIDField(required=False)
    file = serializers.FileField(required=False, allow_empty_file=True)

    def validate_labels(self, value: list[Any]) -> list[str]:
        if not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("Labels are texts.")
        return value


class SnippetSerializer(serializers.Serializer[None]):
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["text", "description"], help_text="Recognised in the picture, or its caption."
    )
    text = serializers.CharField()
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) of each matched word in text.",
    )


class MomentSerializer(serializers.Serializer[None]):
    start = serializers.FloatField(help_text="Seconds from the start of the video.")
    end = serializers.FloatField()
    score = serializers.FloatField()
    thumbnail_url = serializers.CharField()


class SearchResultSerializer(serializers.Serializer[None]):
    """An image result, or a video result (`video` and its best `moments` instead of `image`)."""

    image = ImageSerializer(required=False)
    video = VideoSerializer(required=False)
    moments = MomentSerializer(many=True, required=False, help_text="Best first, up to 3.")
    score = serializers.FloatField(
        help_text="What ranks the results: the cosine similarity in semantic mode, the "
        "fused (hybrid) or BM25 (text) score otherwise."
    )
    similarity = serializers.FloatField(
        help_text="Cosine similarity to the query's CLIP vector, in every mode."
    )
    matched = serializers.ListField(
        child=serializers.ChoiceField(choices=["semantic", "text"]),
        help_text="Which side found it: CLIP (semantic), its words (text), or both.",
    )
    snippet = SnippetSerializer(allow_null=True, help_text="Where its words matched, or null.")

    def to_representation(self, result: Any) -> dict[str, Any]:
        # The fields directly, as ImageSerializer does (search results are
        # serialised many at a time).
        snippet = result.snippet
        item: dict[str, Any]
        if isinstance(result, VideoResult):
            video = self.fields["video"]
            item = {
                "video": video.to_representation(result.video),
                "moments": [_moment(video, moment) for moment in result.moments],
            }
        else:
            item = {"image": self.fields["image"].to_representation(result.image)}
        return {
            **item,
            "score": float(result.score),
            "similarity": float(result.similarity),
            "matched": list(result.matched),
            "snippet": (
                {
                    "source": snippet.source,
                    "text": snippet.text,
                    "highlights": [list(span) for span in snippet.highlights],
                }
                if snippet is not None
                else None
            ),
        }


def _moment(video: serializers.Field[Any, Any, Any, Any], moment: MomentHit) -> dict[str, Any]:
    path = reverse(
        "api:video-moment-thumbnail",
        kwargs={"pk": str(moment.video_id), "point": str(moment.point_id)},
    )
    request = video.context.get("request")
    return {
        "start": moment.start,
        "end": moment.end,
        "score": float(moment.score),
        "thumbnail_url": request.build_absolute_uri(path) if request else path,
    }


class ReviewSerializer(serializers.Serializer[None]):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class SearchPageSerializer(serializers.Serializer[None]):
    """The response of every search endpoint."""

    results = SearchResultSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="Cursor for the next page, or null.")
    query_id = serializers.CharField(
        help_text="Opaque and signed: names this page's results, for POST /api/search/feedback/."
    )
    facets = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        required=False,
        help_text='Only with "facets": true: counts per "format" and "tag".',
    )


# What a query id may be: a page of 100 results, compressed, is about 2 KB.
QUERY_ID_MAX_LENGTH = 8000


class FeedbackSerializer(serializers.Serializer[None]):
    """A mark or an open of one result of a search: `image_id` or `video_id`, and
    `relevant` and/or `opened`."""

    query_id = serializers.CharField(max_length=QUERY_ID_MAX_LENGTH)
    image_id = serializers.UUIDField(required=False)
    video_id = serializers.UUIDField(required=False)
    relevant = serializers.BooleanField(
        required=False, help_text="An explicit mark; a later mark replaces it."
    )
    opened = serializers.BooleanField(
        required=False, help_text="true: the result was opened (kept once recorded)."
    )


class FeedbackDeleteSerializer(serializers.Serializer[None]):
    query_id = serializers.CharField(
        max_length=QUERY_ID_MAX_LENGTH,
        required=False,
        help_text="Only the feedback on this search (any of its pages); without it, all of yours.",
    )


class FeedbackRowSerializer(serializers.ModelSerializer[Feedback]):
    """One recorded judgement: `item_id` is the image's or the video's id, `rank` where the
    search showed it (from 1), `relevant` null when not marked."""

    class Meta:
        model = Feedback
        fields = [
            "kind",
            "item_id",
            "rank",
            "relevant",
            "opened",
            "collection",
            "mode",
            "updated_at",
        ]
        read_only_fields = fields


class FeedbackDeletedSerializer(serializers.Serializer[None]):
    deleted = serializers.IntegerField()


class BatchSearchResponseSerializer(serializers.Serializer[None]):
    results = SearchPageSerializer(many=True)


class ResultsSerializer(serializers.Serializer[None]):
    results = SearchResultSerializer(many=True)


class DuplicateGroupsSerializer(serializers.Serializer[None]):
    count = serializers.IntegerField()
    groups = serializers.ListField(child=SearchResultSerializer(many=True))


class LabelScoreSerializer(serializers.Serializer[None]):
    label = serializers.CharField()  # type: ignore[assignment]
    score = serializers.FloatField(help_text="Probability; the scores sum to 1.")


class ClassifyResponseSerializer(serializers.Serializer[None]):
    results = LabelScoreSerializer(many=True)


class ModerationQueueSerializer(serializers.Serializer[None]):
    count = serializers.IntegerField()
    results = ImageSerializer(many=True)
