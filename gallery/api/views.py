"""The images API: upload, list, read, change visibility, reindex, delete, and file access.

Searching from an image (`similar`, `duplicates`) lives with the search API.
"""

from __future__ import annotations

import io
import os
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, HttpResponseBase, HttpResponseRedirect
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
    ImageUploadSerializer,
    PreferencesSerializer,
)
from gallery.gpsstrip import LocationNotRemovable, without_location
from gallery.models import Image, Preferences
from gallery.services import (
    image_create,
    image_delete,
    image_reindex,
    image_set_visibility,
    image_update,
    preferences_set,
)


class ImageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Image]
):
    serializer_class = ImageSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_classes = [UserScopedThrottle]
    # Ids are UUIDs: anything else is a 404 from the router, never a lookup error.
    lookup_value_regex = (
        "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    )

    @property
    def throttle_scope(self) -> str | None:
        # Uploads and searches by example cost encoder time; reads do not.
        return {"create": "upload", "reindex": "upload"}.get(self.action or "")

    def get_queryset(self) -> Any:
        images = Image.objects.select_related(None)
        # Reading: own and public images. Changing: own images only; anyone
        # else's image is a 404, so ids of private images are not confirmed.
        mine = self.request.query_params.get("mine") in {"1", "true"}
        if self.action in {"list", "retrieve", "file", "thumbnail"} and not mine:
            return images.visible_to(self.request.user)
        return images.owned_by(self.request.user)

    def create(self, request: Request) -> Response:
        form = ImageUploadSerializer(data=request.data)
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
            return _serve_without_location(image)
        return _serve(image.file.name or "")

    @action(detail=True, methods=["get"])
    def thumbnail(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        return _serve(self.get_object().thumbnail.name or "")

    def get_object(self) -> Image:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


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


def _serve(name: str) -> HttpResponseBase:
    """Local files stream through this permission-checked view; S3 gets an expiring signed URL."""
    if isinstance(default_storage, FileSystemStorage):
        response = FileResponse(default_storage.open(name, "rb"))
        response["Cache-Control"] = "private, max-age=3600"
        return response
    return HttpResponseRedirect(default_storage.url(name))


def _serve_without_location(image: Image) -> HttpResponseBase:
    """The original without its GPS position, with `_serve`'s headers; through the app on S3 too.

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
        return _serve(image.thumbnail.name or "")
    # FileResponse sets the type, length and inline disposition from the name, as `_serve` does.
    response = FileResponse(io.BytesIO(data), filename=os.path.basename(name))
    response["Cache-Control"] = "private, max-age=3600"
    return response
