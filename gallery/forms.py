"""Forms of the web pages. They parse input into what one service call needs; no logic."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from gallery.models import DESCRIPTION_MAX_LENGTH, Image


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input. Their bytes are judged by `image_create`, not here."""

    widget = MultipleFileInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        items = data if isinstance(data, list | tuple) else [data]
        if not any(items):
            return list(super().clean(None, initial) or [])
        return [super(MultipleFileField, self).clean(item, initial) for item in items if item]


class UploadForm(forms.Form):
    images = MultipleFileField(
        label="Images",
        widget=MultipleFileInput(attrs={"accept": "image/*"}),
        error_messages={"required": "Choose one or more images."},
    )
    visibility = forms.ChoiceField(
        label="Who can see them",
        choices=Image.Visibility.choices,
        initial=Image.Visibility.PRIVATE,
    )


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(label="Visibility", choices=Image.Visibility.choices)


class ImageDetailsForm(forms.Form):
    """The owner's words about an image, and whether others may see where it was taken."""

    description = forms.CharField(
        label="Caption",
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        strip=False,  # image_update trims it
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Search finds the image by these words too.",
    )
    location_shared = forms.BooleanField(
        label="Show where this was taken to others", required=False
    )


class PreferencesForm(forms.Form):
    share_location = forms.BooleanField(
        label="Show where my new photos were taken to others", required=False
    )


class GalleryFilterForm(forms.Form):
    """The gallery's filters (GET): a place name and a camera."""

    place = forms.CharField(
        label="Place", required=False, max_length=100, help_text="City, region or country"
    )
    camera = forms.CharField(
        label="Camera", required=False, max_length=100, help_text="Make or model"
    )


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(label="Reason", max_length=500, required=False)
