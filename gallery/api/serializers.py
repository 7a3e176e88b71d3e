from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from gallery.models import DESCRIPTION_MAX_LENGTH, Image, Video

_STAND_IN = "00000000-0000-4000-8000-000000000000"
# DRF's own conversion of a datetime (the configured format and time zone).
_DATETIME = serializers.DateTimeField()


class ImageSerializer(serializers.ModelSerializer[Image]):
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    filename = serializers.CharField(source="original_filename", read_only=True)
    flagged = serializers.BooleanField(source="is_hidden", read_only=True)
    camera = serializers.CharField(read_only=True)
    place = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "url",
            "thumbnail_url",
            "filename",
            "format",
            "width",
            "height",
            "size",
            "taken_at",
            "uploaded_at",
            "visibility",
            "status",
            "error",
            "tags",
            "model_id",
            "flagged",
            "description",
            "recognised_text",
            "camera",
            "lens",
            "place",
            "location",
            "location_shared",
        ]
        read_only_fields = fields

    def to_representation(self, image: Image) -> dict[str, Any]:
        # What DRF's walk over `fields` returns (tests/gallery/test_serializers.py
        # holds the two equal), built directly: the walk builds the fields from
        # the model on every request, then looks up and converts each one by its
        # source, and was three quarters of a search by id's serialising.
        return {
            "id": str(image.pk),
            "url": self.get_url(image),
            "thumbnail_url": self.get_thumbnail_url(image),
            "filename": str(image.original_filename),
            "format": str(image.format),
            "width": int(image.width),
            "height": int(image.height),
            "size": int(image.size),
            "taken_at": _DATETIME.to_representation(image.taken_at) if image.taken_at else None,
            "uploaded_at": _DATETIME.to_representation(image.uploaded_at),
            "visibility": str(image.visibility),
            "status": str(image.status),
            "error": str(image.error),
            "tags": image.tags,
            "model_id": str(image.model_id),
            "flagged": image.is_hidden,
            "description": str(image.description),
            "recognised_text": str(image.recognised_text),
            "camera": image.camera,
            "lens": str(image.lens),
            "place": self.get_place(image),
            "location": self.get_location(image),
            "location_shared": bool(image.location_shared),
        }

    def get_place(self, image: Image) -> dict[str, str] | None:
        """City, region and country, where the asking user may see where it was taken."""
        if not image.place_names or not self._sees_location(image):
            return None
        return {
            "city": image.place_city,
            "region": image.place_region,
            "country": image.place_country,
            "country_code": image.place_country_code,
        }

    def get_location(self, image: Image) -> dict[str, float] | None:
        if image.latitude is None or image.longitude is None or not self._sees_location(image):
            return None
        return {"lat": image.latitude, "lon": image.longitude}

    def _sees_location(self, image: Image) -> bool:
        request = self.context.get("request")
        return request is not None and image.location_visible_to(request.user)

    def get_url(self, image: Image) -> str:
        return _absolute(self, "api:image-file", image.pk)

    def get_thumbnail_url(self, image: Image) -> str:
        return _absolute(self, "api:image-thumbnail", image.pk)


def _absolute(serializer: serializers.Serializer[Any], name: str, pk: object) -> str:
    """The absolute URL of `name` for the row `pk`, reversed once a page.

    A page of results needs two URLs a row, and reverse() with
    build_absolute_uri() took a third of a search's serialising time: each is
    done once a page, for a stand-in id, which is then replaced.
    """
    templates: dict[str, str] = serializer.root.__dict__.setdefault("_url_templates", {})
    if name not in templates:
        path = reverse(name, kwargs={"pk": _STAND_IN})
        request = serializer.context.get("request")
        templates[name] = request.build_absolute_uri(path) if request else path
    return templates[name].replace(_STAND_IN, str(pk))


class VideoSerializer(serializers.ModelSerializer[Video]):
    url = serializers.SerializerMethodField()
    poster_url = serializers.SerializerMethodField()
    filename = serializers.CharField(source="original_filename", read_only=True)
    flagged = serializers.BooleanField(source="is_hidden", read_only=True)

    class Meta:
        model = Video
        fields = [
            "id",
            "url",
            "poster_url",
            "filename",
            "format",
            "codec",
            "width",
            "height",
            "duration",
            "frame_rate",
            "size",
            "taken_at",
            "uploaded_at",
            "visibility",
            "status",
            "error",
            "progress",
            "moments_indexed",
            "model_id",
            "flagged",
        ]
        read_only_fields = fields

    def get_url(self, video: Video) -> str:
        return _absolute(self, "api:video-file", video.pk)

    def get_poster_url(self, video: Video) -> str:
        return _absolute(self, "api:video-poster", video.pk)


class UploadSerializer(serializers.Serializer[None]):
    """An upload of an image or a video."""

    file = serializers.FileField(allow_empty_file=True)
    visibility = serializers.ChoiceField(
        choices=Image.Visibility.choices, default=Image.Visibility.PRIVATE
    )


class ImageUpdateSerializer(serializers.Serializer[None]):
    visibility = serializers.ChoiceField(choices=Image.Visibility.choices, required=False)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, trim_whitespace=True, required=False
    )
    location_shared = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                "Give visibility, description and/or location_shared."
            )
        return attrs


class PreferencesSerializer(serializers.Serializer[None]):
    share_location = serializers.BooleanField(
        help_text="Whether others who may see your new uploads see where they were taken."
    )


class VideoUpdateSerializer(serializers.Serializer[None]):
    visibility = serializers.ChoiceField(choices=Image.Visibility.choices)
