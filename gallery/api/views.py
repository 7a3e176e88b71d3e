"""The images API: upload, list, read, change visibility, reindex, delete, and file access.

Searching from an image (`similar`, `duplicates`) lives with the search API.
"""

from __future__ import annotations

import io
import os
from typing import Any, TypeVar

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import errors
from core.throttling import UserScopedThrottle
from gallery.api.serializers import (
    ImageSerializer,
    ImageUpdateSerializer,
    PreferencesSerializer,
    UploadSerializer,
    VideoSerializer,
    VideoUpdateSerializer,
)
from gallery.gpsstrip import LocationNotRemovable, without_location
from gallery.models import Image, Preferences, Video
from gallery.moderation import is_reviewer, videos_viewable_by
from gallery.services import (
    image_create,
    image_delete,
    image_reindex,
    image_set_visibility,
    image_update,
    preferences_set,
)
from gallery.serving import CACHE_CONTROL, serve_stored
from gallery.videos import video_create, video_delete, video_reindex, video_set_visibility

_Row = TypeVar("_Row", Image, Video)


class _OwnedRowsViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[_Row]
):
    """What the images and videos APIs share: UUID ids, and who may read or change a row."""

    # Ids are UUIDs: anything else is a 404 from the router, never a lookup error.
    lookup_value_regex = (
        "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    )
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_classes = [UserScopedThrottle]
    rows: Any
    # Actions that read; every other one changes a row, so only its owner may.
    reading = frozenset({"list", "retrieve", "file", "thumbnail", "poster", "moment_thumbnail"})

    def get_queryset(self) -> Any:
        # Reading: own and public rows. Changing: own rows only; anyone else's
        # is a 404, so ids of private images and videos are not confirmed.
        mine = self.request.query_params.get("mine") in {"1", "true"}
        if self.action in self.reading and not mine:
            return self.rows.visible_to(self.request.user)
        return self.rows.owned_by(self.request.user)

    def get_object(self) -> _Row:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class ImageViewSet(_OwnedRowsViewSet[Image]):
    serializer_class = ImageSerializer
    rows = Image.objects.select_related(None)

    @property
    def throttle_scope(self) -> str | None:
        # Uploads and searches by example cost encoder time; reads do not.
        return {"create": "upload", "reindex": "upload"}.get(self.action or "")

    def create(self, request: Request) -> Response:
        form = UploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        image = image_create(
            owner=request.user,  # type: ignore[arg-type]
            upload=form.validated_data["file"],
            visibility=form.validated_data["visibility"],
        )
        image.refresh_from_db()
        return Response(self.get_serializer(image).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        form = ImageUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        image = self.get_object()
        if "visibility" in data:
            image = image_set_visibility(image=image, visibility=data["visibility"])
        image = image_update(
            image=image,
            description=data.get("description"),
            location_shared=data.get("location_shared"),
        )
        return Response(self.get_serializer(image).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        image_delete(image=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def reindex(self, request: Request, pk: str | None = None) -> Response:
        image = image_reindex(image=self.get_object())
        image.refresh_from_db()
        return Response(self.get_serializer(image).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def file(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        image = self.get_object()
        # Only the owner gets the original as uploaded; anyone else sees a
        # public image, whose GPS position would tell them where its owner was.
        if settings.STRIP_PUBLIC_GPS and image.owner_id != request.user.pk:
            return _serve_without_location(request, image)
        return serve_stored(request, image.file.name or "")

    @action(detail=True, methods=["get"])
    def thumbnail(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        return serve_stored(request, self.get_object().thumbnail.name or "")


class VideoViewSet(_OwnedRowsViewSet[Video]):
    serializer_class = VideoSerializer
    rows = Video.objects.select_related(None)
    # What the video page plays and shows: a reviewer opens it for the videos
    # moderation hides too (`videos_viewable_by`), so the review queue's links work.
    reviewing = frozenset({"file", "poster", "moment_thumbnail"})

    def get_queryset(self) -> Any:
        if self.action in self.reviewing and is_reviewer(self.request.user):
            return videos_viewable_by(self.request.user)
        return super().get_queryset()

    @property
    def throttle_scope(self) -> str | None:
        return {"create": "upload", "reindex": "upload"}.get(self.action or "")

    @extend_schema(request=UploadSerializer, responses={201: VideoSerializer, **errors(400, 409)})
    def create(self, request: Request) -> Response:
        form = UploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        video = video_create(
            owner=request.user,  # type: ignore[arg-type]
            upload=form.validated_data["file"],
            visibility=form.validated_data["visibility"],
        )
        video.refresh_from_db()
        return Response(self.get_serializer(video).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=VideoUpdateSerializer, responses={200: VideoSerializer, **errors(400)})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        form = VideoUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        video = video_set_visibility(
            video=self.get_object(), visibility=form.validated_data["visibility"]
        )
        return Response(self.get_serializer(video).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        video_delete(video=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def reindex(self, request: Request, pk: str | None = None) -> Response:
        video = video_reindex(video=self.get_object())
        return Response(self.get_serializer(video).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def file(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        # Containers keep no GPS in what this app reads or strips; served as stored.
        return serve_stored(request, self.get_object().file.name or "")

    @action(detail=True, methods=["get"])
    def poster(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        return serve_stored(request, self.get_object().poster.name or "")

    @action(
        detail=True,
        methods=["get"],
        url_path=r"moments/(?P<point>[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})/thumbnail",
        url_name="moment-thumbnail",
    )
    def moment_thumbnail(
        self, request: Request, pk: str | None = None, point: str = ""
    ) -> HttpResponseBase:
        """A moment's thumbnail, by the id of its point (what search results name)."""
        moment = get_object_or_404(self.get_object().moments, point_id=point)
        return serve_stored(request, moment.thumbnail.name or "")


class PreferencesApi(APIView):
    """The signed-in user's gallery defaults (for new uploads)."""

    parser_classes = [JSONParser]
    throttle_classes = [UserScopedThrottle]

    @extend_schema(responses={200: PreferencesSerializer, **errors(401)})
    def get(self, request: Request) -> Response:
        preferences = Preferences.of(request.user)  # type: ignore[arg-type]
        return Response({"share_location": preferences.share_location})

    @extend_schema(
        request=PreferencesSerializer, responses={200: PreferencesSerializer, **errors(400, 401)}
    )
    def patch(self, request: Request) -> Response:
        form = PreferencesSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        preferences = preferences_set(
            user=request.user,  # type: ignore[arg-type]
            share_location=form.validated_data["share_location"],
        )
        return Response({"share_location": preferences.share_location})


def _serve_without_location(request: Request, image: Image) -> HttpResponseBase:
    """The original without its GPS position, with `serve_stored`'s headers, on S3 too.

    A file without GPS is served as it is stored.  One whose GPS can be
    neither edited out nor re-encoded away (a RAW file the edit cannot fix)
    is served as its thumbnail, which carries no metadata.
    """
    name = image.file.name or ""
    with default_storage.open(name, "rb") as stored:
        data = stored.read()
    try:
        data = without_location(data, image.format)
    except LocationNotRemovable:
        return serve_stored(request, image.thumbnail.name or "")
    # FileResponse sets the type, length and inline disposition from the name.
    response = FileResponse(io.BytesIO(data), filename=os.path.basename(name))
    response["Cache-Control"] = CACHE_CONTROL
    return response
