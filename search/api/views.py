"""Search endpoints: by text and/or image, batched, classification and near-duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework.fields import IntegerField, ListField
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from core.schema import errors
from core.throttling import UserScopedThrottle
from gallery.api.serializers import ImageSerializer, VideoSerializer
from gallery.models import Image, Video, VideoMoment
from gallery.moderation import image_review, review_queue, review_subject
from gallery.videos import video_review
from search.api.serializers import (
    BatchSearchResponseSerializer,
    BatchSearchSerializer,
    ClassifyResponseSerializer,
    ClassifySerializer,
    DuplicateGroupsSerializer,
    FeedbackDeletedSerializer,
    FeedbackDeleteSerializer,
    FeedbackRowSerializer,
    FeedbackSerializer,
    ImageSearchSerializer,
    ResultsSerializer,
    ReviewSerializer,
    SearchPageSerializer,
    SearchResultSerializer,
    SearchSerializer,
)
from search.classify import classify
from search.duplicates import duplicate_groups, image_duplicates
from search.feedback import feedback_delete, feedback_record
from search.services import (
    SearchPage,
    SearchResult,
    VideoResult,
    search,
    search_batch,
    similar_images,
    similar_to_moment,
)


class SearchApi(APIView):
    parser_classes = [JSONParser]
    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    @extend_schema(
        request=SearchSerializer,
        responses={200: SearchPageSerializer, **errors(400, 401, 429, 503)},
        summary="Search by text, example images and negatives",
    )
    def post(self, request: Request) -> Response:
        form = SearchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return render_page(request, search(user=request.user, request=form.to_request()))


class ImageSearchApi(APIView):
    """Search by an uploaded picture, optionally mixed with text; the picture is not stored."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    @extend_schema(
        request={"multipart/form-data": ImageSearchSerializer},
        responses={200: SearchPageSerializer, **errors(400, 401, 429, 503)},
        summary="Search by an uploaded image, optionally with text",
    )
    def post(self, request: Request) -> Response:
        form = ImageSearchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        page = search(
            user=request.user, request=form.to_request(image_upload=form.validated_data["file"])
        )
        return render_page(request, page)


class BatchSearchApi(APIView):
    parser_classes = [JSONParser]
    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    def throttle_weight(self, request: Request) -> int:
        searches = request.data.get("searches") if isinstance(request.data, dict) else None
        return len(searches) if isinstance(searches, list) else 1

    @extend_schema(
        request=BatchSearchSerializer,
        responses={200: BatchSearchResponseSerializer, **errors(400, 401, 429, 503)},
        summary="Up to 32 searches in one request",
    )
    def post(self, request: Request) -> Response:
        form = BatchSearchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        searches = []
        for position, body in enumerate(form.validated_data["searches"]):
            each = SearchSerializer(data=body)
            if not each.is_valid():
                raise ApplicationError(
                    "invalid", f"Search {position} is not valid.", detail=each.errors
                )
            searches.append(each.to_request())
        pages = search_batch(user=request.user, requests=searches)
        return Response({"results": [page_data(request, page) for page in pages]})


class FeedbackApi(APIView):
    """Feedback on a search's results: a mark (`relevant`) or an open (`opened`) of one
    result, named by the search's `query_id`; DELETE forgets yours."""

    parser_classes = [JSONParser]
    throttle_classes = [UserScopedThrottle]
    throttle_scope = "feedback"

    @extend_schema(
        request=FeedbackSerializer,
        responses={200: FeedbackRowSerializer, **errors(400, 401, 404, 429)},
        summary="Mark a search result relevant or not, or record that it was opened",
    )
    def post(self, request: Request) -> Response:
        form = FeedbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        row = feedback_record(user=request.user, **form.validated_data)
        return Response(FeedbackRowSerializer(row).data)

    @extend_schema(
        request=FeedbackDeleteSerializer,
        parameters=[OpenApiParameter("query_id", str, description="Only this search's")],
        responses={200: FeedbackDeletedSerializer, **errors(400, 401, 404, 429)},
        summary="Delete your feedback: all of it, or one search's",
    )
    def delete(self, request: Request) -> Response:
        form = FeedbackDeleteSerializer(data=request.query_params or request.data)
        form.is_valid(raise_exception=True)
        deleted = feedback_delete(user=request.user, query_id=form.validated_data.get("query_id"))
        return Response({"deleted": deleted})


class ClassifyApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    @extend_schema(
        request={"application/json": ClassifySerializer, "multipart/form-data": ClassifySerializer},
        responses={200: ClassifyResponseSerializer, **errors(400, 401, 429, 503)},
        summary="Zero-shot classification of one image",
    )
    def post(self, request: Request) -> Response:
        form = ClassifySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        ranked = classify(
            user=request.user,
            labels=data["labels"],
            image_id=data.get("image_id"),
            upload=data.get("file"),
        )
        return Response({"results": [{"label": label, "score": score} for label, score in ranked]})


class DuplicateGroupsApi(APIView):
    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    @extend_schema(
        responses={200: DuplicateGroupsSerializer, **errors(401, 429, 503)},
        summary="Near-duplicate groups in your library",
    )
    def get(self, request: Request) -> Response:
        groups = duplicate_groups(user=request.user)
        return Response(
            {"count": len(groups), "groups": [results_data(request, g) for g in groups]}
        )


class SimilarImagesApi(APIView):
    """More like this: the nearest images to one you may see."""

    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    @extend_schema(
        parameters=[OpenApiParameter("top_k", int, description="1 to 100 (default 10)")],
        responses={200: SearchPageSerializer, **errors(400, 401, 404, 429, 503)},
        summary="Images like this one",
    )
    def get(self, request: Request, id: UUID) -> Response:
        limit = _int_param(request, "top_k", default=10, high=100)
        image = _visible_image(request, id)
        return render_page(request, similar_images(user=request.user, image=image, limit=limit))


class VideoSimilarApi(APIView):
    """More like this from a moment: what is nearest to the moment on screen at `t`."""

    throttle_classes = [UserScopedThrottle]
    throttle_scope = "search"

    @extend_schema(
        parameters=[
            OpenApiParameter("t", float, description="Seconds into the video (default 0)"),
            OpenApiParameter("top_k", int, description="1 to 100 (default 10)"),
        ],
        responses={200: SearchPageSerializer, **errors(400, 401, 404, 409, 429, 503)},
        summary="Images and videos like this moment of a video",
    )
    def get(self, request: Request, id: UUID) -> Response:
        limit = _int_param(request, "top_k", default=10, high=100)
        at = _seconds_param(request, "t")
        video = get_object_or_404(Video.objects.visible_to(request.user), pk=id)
        page = similar_to_moment(user=request.user, video=video, at=at, limit=limit)
        return render_page(request, page)


class ImageDuplicatesApi(APIView):
    """Near-duplicates of one image within your own library."""

    @extend_schema(
        responses={200: ResultsSerializer, **errors(401, 404, 503)},
        summary="Near-duplicates of this image in your library",
    )
    def get(self, request: Request, id: UUID) -> Response:
        found = image_duplicates(user=request.user, image=_visible_image(request, id))
        return Response({"results": results_data(request, found)})


def _visible_image(request: Request, pk: UUID) -> Image:
    """An image `request.user` may see (`?mine=1`: own only); anyone else's is a 404."""
    mine = request.query_params.get("mine") in {"1", "true"}
    images = Image.objects.owned_by if mine else Image.objects.visible_to
    return get_object_or_404(images(request.user), pk=pk)


def _int_param(request: Request, name: str, *, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise ApplicationError("invalid_parameter", f"{name} must be an integer from 1 to {high}.")
    return value


def _seconds_param(request: Request, name: str) -> float:
    raw = request.query_params.get(name, "0")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise ApplicationError(
            "invalid_parameter", f"{name} must be a number of seconds, 0 or more."
        )
    return value


def results_data(request: Request, results: Sequence[SearchResult | VideoResult]) -> Any:
    return SearchResultSerializer(
        results,  # type: ignore[arg-type]
        many=True,
        context={"request": request},
    ).data


def page_data(request: Request, page: SearchPage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "results": results_data(request, page.results),
        "next": page.next_cursor,
        "query_id": page.query_id,
    }
    if page.facets is not None:
        data["facets"] = page.facets
    return data


def render_page(request: Request, page: SearchPage) -> Response:
    return Response(page_data(request, page))


# Either kind in the moderation API, told apart by `kind` ("image" or "video").
_REVIEWED = PolymorphicProxySerializer(
    component_name="ModerationItem",
    serializers=[ImageSerializer, VideoSerializer],
    resource_type_field_name=None,
)


class ModerationQueueApi(APIView):
    """Staff: images and videos flagged by moderation, awaiting review (oldest first).

    Each item has `kind` ("image" or "video") and `moderation_reason`; a video also
    its `moments` that crossed a concept, in order: `start`, `end`, `flagged`
    ("concept (cosine), ..."), `thumbnail_url` and `page_url` (the video page at
    that second).
    """

    permission_classes = [IsAdminUser]

    @extend_schema(
        responses={
            200: inline_serializer(
                "ModerationQueue",
                {"count": IntegerField(), "results": ListField(child=_REVIEWED)},
            ),
            **errors(401, 403),
        }
    )
    def get(self, request: Request) -> Response:
        queue = review_queue()[:200]
        data = [_reviewed(request, entry.subject, entry.moments) for entry in queue]
        return Response({"count": len(data), "results": data})


class ModerationReviewApi(APIView):
    """Staff: approve or reject a flagged image or video, by its id, with a reason."""

    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser]

    @extend_schema(
        request=ReviewSerializer, responses={200: _REVIEWED, **errors(400, 401, 403, 404)}
    )
    def post(self, request: Request, pk: str) -> Response:
        form = ReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        subject = review_subject(pk)
        if subject is None:
            raise Http404("No such image or video.")
        decision, reason = form.validated_data["decision"], form.validated_data["reason"]
        reviewer: AbstractBaseUser = request.user  # type: ignore[assignment]
        if isinstance(subject, Video):
            subject = video_review(
                video=subject, decision=decision, reviewer=reviewer, reason=reason
            )
        else:
            subject = image_review(
                image=subject, decision=decision, reviewer=reviewer, reason=reason
            )
        data = _reviewed(request, subject)
        data["moderation"] = subject.moderation
        return Response(data)


def _reviewed(
    request: Request, subject: Image | Video, moments: Sequence[VideoMoment] = ()
) -> dict[str, Any]:
    """An image's or a video's API form, with `kind`, its moderation reason and, for a
    video, the `moments` that crossed a concept."""
    context = {"request": request}
    if isinstance(subject, Video):
        data: dict[str, Any] = {"kind": "video", **VideoSerializer(subject, context=context).data}
        page = reverse("gallery:video", kwargs={"pk": subject.pk})
        data["moments"] = [
            {
                "start": moment.start,
                "end": moment.end,
                "flagged": moment.flagged,
                "thumbnail_url": request.build_absolute_uri(
                    reverse(
                        "api:video-moment-thumbnail",
                        kwargs={"pk": subject.pk, "point": moment.point_id},
                    )
                ),
                "page_url": request.build_absolute_uri(f"{page}?t={moment.start:.1f}"),
            }
            for moment in moments
        ]
    else:
        data = {"kind": "image", **ImageSerializer(subject, context=context).data}
    data["moderation_reason"] = subject.moderation_reason
    return data
