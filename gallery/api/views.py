"""The images API: upload, list, read, change visibility, reindex, delete, and file access."""

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

from clipsite.errors import ApplicationError
from gallery.api.serializers import ImageSerializer, ImageUpdateSerializer, ImageUploadSerializer
from gallery.models import Image
from gallery.services import image_create, image_delete, image_reindex, image_set_visibility
from search.throttling import UserScopedThrottle


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
        return {"create": "upload", "reindex": "upload", "similar": "search"}.get(self.action or "")

    def get_queryset(self) -> Any:
        images = Image.objects.select_related(None)
        # Reading: own and public images. Changing: own images only; anyone
        # else's image is a 404, so ids of private images are not confirmed.
        mine = self.request.query_params.get("mine") in {"1", "true"}
        if self.action in {"list", "retrieve", "file", "thumbnail", "similar"} and not mine:
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
    def similar(self, request: Request, pk: str | None = None) -> Response:
        from search.api.views import render_page
        from search.services import similar_images

        limit = _int_param(request, "top_k", default=10, high=100)
        return render_page(
            request, similar_images(user=request.user, image=self.get_object(), limit=limit)
        )

    @action(detail=True, methods=["get"])
    def duplicates(self, request: Request, pk: str | None = None) -> Response:
        from search.api.views import results_data
        from search.duplicates import image_duplicates

        found = image_duplicates(user=request.user, image=self.get_object())
        return Response({"results": results_data(request, found)})

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
