"""The search page's form: it parses input into one `SearchRequest`; no logic."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from gallery.models import Image
from search.modes import SEARCH_MODES
from search.querytext import parse_query, positive_query, search_filters, split_terms
from search.services import SearchRequest, TextTerm

# The API's limit on negative terms (search.api.serializers).
MAX_NEGATIVES = 16


MODE_LABELS = {
    "hybrid": "Meaning and words",
    "semantic": "Meaning only",
    "text": "Words only",
}


def _format_choices() -> list[tuple[str, str]]:
    return [("", "Any format"), *((f, f) for f in settings.UPLOAD_ALLOWED_FORMATS)]


def _mode_choices() -> list[tuple[str, str]]:
    """The default mode first, as "" so that it stays out of search URLs."""
    default = settings.SEARCH_DEFAULT_MODE
    others = [(m, MODE_LABELS[m]) for m in SEARCH_MODES if m != default]
    return [("", MODE_LABELS[default]), *others]


class SearchForm(forms.Form):
    """The search page: GET for text searches (bookmarkable), POST when an example image is sent.

    `q` takes natural text with `-word` / `-"two words"` exclusions; `less` is a
    comma-separated list of more exclusions.
    """

    q = forms.CharField(label="Search", required=False, max_length=1000)
    mode = forms.ChoiceField(
        label="Match by",
        required=False,
        choices=_mode_choices,
        help_text="What the picture shows, the words in and about it, or both",
    )
    less = forms.CharField(
        label="Less of", required=False, max_length=1000, help_text="Comma-separated: people, cars"
    )
    format = forms.ChoiceField(label="Format", required=False, choices=_format_choices)
    date_from = forms.DateField(
        label="From",
        required=False,
        help_text="When taken, else uploaded",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    tags = forms.CharField(
        label="Tags", required=False, max_length=500, help_text="Any of these, comma-separated"
    )
    place = forms.CharField(
        label="Place", required=False, max_length=100, help_text="A city, region or country"
    )
    camera = forms.CharField(
        label="Camera", required=False, max_length=100, help_text="Its make, model or both"
    )
    like = forms.UUIDField(required=False, widget=forms.HiddenInput)
    cursor = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    image = forms.FileField(
        label="Search by an example image",
        required=False,
        allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    # Every field a search may come from: a GET with none of them is a blank page.
    FIELDS = ("q", "less", "format", "date_from", "date_to", "tags", "place", "camera", "like")

    def __init__(self, *args: Any, user: AbstractBaseUser | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.like_image: Image | None = None

    def clean_like(self) -> Any:
        like = self.cleaned_data.get("like")
        if like is not None:
            self.like_image = Image.objects.visible_to(self.user).filter(pk=like).first()
            if self.like_image is None:
                raise forms.ValidationError("That image does not exist, or is not yours to see.")
        return like

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        parsed = parse_query(data.get("q") or "")
        negatives = tuple(dict.fromkeys(parsed.negatives + split_terms(data.get("less") or "")))
        if len(negatives) > MAX_NEGATIVES:
            self.add_error("less", f"Give at most {MAX_NEGATIVES} terms to avoid.")
        data["text"] = parsed.text
        # What is searched: the text with its quoted phrases, which must match as written.
        data["query"] = positive_query(data.get("q") or "")
        data["negatives"] = negatives
        return data

    def to_request(self, *, limit: int) -> SearchRequest:
        """The valid form as a `SearchRequest` (an example image is decoded and encoded by
        the search service)."""
        data = self.cleaned_data
        like = data.get("like")
        return SearchRequest(
            texts=(TextTerm(data["query"]),) if data["text"] else (),
            negative_texts=data["negatives"],
            image_id=like,
            image_upload=data.get("image") or None,
            exclude_ids=(like,) if like else (),
            filters=search_filters(
                image_format=data.get("format") or "",
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
                tags=split_terms(data.get("tags") or ""),
                place=data.get("place") or "",
                camera=data.get("camera") or "",
            ),
            mode=data.get("mode") or None,
            limit=limit,
            cursor=data.get("cursor") or None,
        )
