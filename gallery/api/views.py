"""The images API: upload, list, read, change visibility, reindex, delete, and file access.

Searching from an image (`similar`, `duplicates`) lives with the search API.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.throttling import UserScopedThrottle
from gallery.api.serializers import ImageSerializer, ImageUpdateSerializer, ImageUploadSerializer
from gallery.models import Image
from gallery.services import image_create, image_delete, image_reindex, image_set_visibility


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
        image = image_set_visibility(
            image=self.get_object(), visibility=form.validated_data["visibility"]
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
        return _serve(self.get_object().file.name or "")

    @action(detail=True, methods=["get"])
    def thumbnail(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        return _serve(self.get_object().thumbnail.name or "")

    def get_object(self) -> Image:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


def _serve(name: str) -> HttpResponseBase:
    """Local files stream through this permission-checked view; S3 gets an expiring signed URL."""
    if isinstance(default_storage, FileSystemStorage):
        response = FileResponse(default_storage.open(name, "rb"))
        response["Cache-Control"] = "private, max-age=3600"
        return response
    return HttpResponseRedirect(default_storage.url(name))
