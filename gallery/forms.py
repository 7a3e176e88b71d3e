"""Forms of the web pages. They parse input into what one service call needs; no logic."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from gallery.models import Image


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


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(label="Reason", max_length=500, required=False)
