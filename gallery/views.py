"""The pages that show and change images, and the gallery and upload pages of videos too.
Each view parses a form, calls a service, and renders a template. The pages that search
(the search page, an image's page with more like it) live in `search.views`; sign-in and
sign-up in `accounts.views`.

Uploading from the page goes through the JSON API (`POST /api/images/`, and
`POST /api/videos/` for a video) with the session and the CSRF header, so the page
can show each file's progress, and a video's indexing after it; the form here is
the same upload for browsers without JavaScript.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError
from gallery.forms import (
    GalleryFilterForm,
    ImageDetailsForm,
    PreferencesForm,
    ReviewForm,
    UploadForm,
    VisibilityForm,
)
from gallery.models import Image, Preferences, Video
from gallery.moderation import (
    image_review,
    is_reviewer,
    review_queue,
    review_subject,
    videos_viewable_by,
)
from gallery.services import (
    image_create,
    image_delete,
    image_reindex,
    image_set_visibility,
    image_update,
    preferences_set,
)
from gallery.status import system_status
from gallery.timeline import gallery_timeline
from gallery.videos import video_create, video_review

GALLERY_PAGE_SIZE = 48
# The videos the upload page offers to choose; any file the browser calls `video/...`
# goes to `video_create` (site.js decides the same), and so does one of these names
# when the browser declares no type. `video_create` tells the container from the bytes.
VIDEO_TYPES = ("video/mp4", "video/webm", "video/quicktime", "video/x-matroska")
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    """Own and public images and videos, newest first, in one list; `?mine=1` for own ones
    only, `?place=` and `?camera=` to narrow them (to images)."""
    mine = request.GET.get("mine") == "1"
    form = GalleryFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    timeline = gallery_timeline(
        user=request.user,
        mine=mine,
        place=filters.get("place", ""),
        camera=filters.get("camera", ""),
    )
    page = Paginator(timeline, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    # The pager's links keep the filters: "mine=1&place=Lisbon&" before "page=N".
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "page": page,
        "image_count": timeline.image_count,
        "video_count": timeline.video_count,
        "mine": mine,
        "filter_form": form,
        "filtered": bool(filters.get("place") or filters.get("camera")),
        "page_query": f"{params.urlencode()}&" if params else "",
        "nav": "gallery",
    }
    return render(request, "gallery/gallery.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """The upload page, for images and videos. With JavaScript, files go to the API one by
    one, with progress; this POST is the same for a browser without it."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        for file in form.cleaned_data["images"]:
            create = video_create if _is_video(file) else image_create
            try:
                row = create(
                    owner=request.user,  # type: ignore[arg-type]
                    upload=file,
                    visibility=form.cleaned_data["visibility"],
                )
            except ApplicationError as exc:
                messages.error(request, f"{file.name}: {exc.message}")
            else:
                messages.success(request, f"{row}: uploaded.")
        return redirect("gallery:upload")
    preferences = Preferences.of(request.user)  # type: ignore[arg-type]
    context = {
        "form": form,
        "preferences_form": PreferencesForm(initial={"share_location": preferences.share_location}),
        "nav": "upload",
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "formats": settings.UPLOAD_ALLOWED_FORMATS,
        "video_max_bytes": settings.VIDEO_MAX_BYTES,
        "video_max_seconds": settings.VIDEO_MAX_SECONDS,
        "accept": ",".join(("image/*", *VIDEO_TYPES)),
    }
    return render(request, "gallery/upload.html", context, status=400 if form.errors else 200)


def _is_video(file: UploadedFile) -> bool:
    """Whether an upload goes to `video_create` rather than `image_create`: by the type the
    browser declared, or, with none, by its name."""
    declared = (file.content_type or "").lower()
    if declared.startswith("video/"):
        return True
    return declared in {"", "application/octet-stream"} and (
        PurePath(file.name or "").suffix.lower() in VIDEO_SUFFIXES
    )


@login_required
@require_POST
def preferences(request: HttpRequest) -> HttpResponse:
    """The defaults for new uploads (on the upload page)."""
    form = PreferencesForm(request.POST)
    form.is_valid()  # a checkbox: any input is valid, and absent means off
    preferences_set(
        user=request.user,  # type: ignore[arg-type]
        share_location=form.cleaned_data["share_location"],
    )
    if form.cleaned_data["share_location"]:
        messages.success(request, "Others will see where your new photos were taken.")
    else:
        messages.success(request, "Where your new photos were taken stays yours to see.")
    return redirect("gallery:upload")


@login_required
@require_POST
def image_visibility(request: HttpRequest, pk: UUID) -> HttpResponse:
    image = get_object_or_404(Image.objects.owned_by(request.user), pk=pk)
    form = VisibilityForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose private or public.")
        return redirect("gallery:image", pk=image.pk)
    try:
        image = image_set_visibility(image=image, visibility=form.cleaned_data["visibility"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{image} is now {image.get_visibility_display().lower()}.")
    return redirect("gallery:image", pk=image.pk)


@login_required
@require_POST
def image_details(request: HttpRequest, pk: UUID) -> HttpResponse:
    """The owner's caption, and whether others may see where the photo was taken."""
    image = get_object_or_404(Image.objects.owned_by(request.user), pk=pk)
    form = ImageDetailsForm(request.POST)
    if not form.is_valid():  # only the caption can be: too long
        messages.error(request, " ".join(str(e) for e in form.errors.get("description", ())))
        return redirect("gallery:image", pk=image.pk)
    try:
        image = image_update(
            image=image,
            description=form.cleaned_data["description"],
            location_shared=form.cleaned_data["location_shared"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{image}: saved.")
    return redirect("gallery:image", pk=image.pk)


@login_required
@require_POST
def image_reindex_page(request: HttpRequest, pk: UUID) -> HttpResponse:
    image = get_object_or_404(Image.objects.owned_by(request.user), pk=pk)
    try:
        image_reindex(image=image)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{image} is queued for indexing.")
    return redirect("gallery:image", pk=image.pk)


@login_required
def video_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    """A video you may see (or review), playing from `?t=` seconds, with its moments (a click
    seeks)."""
    # A reviewer opens the flagged videos of others too, from the review queue's links.
    video = get_object_or_404(videos_viewable_by(request.user), pk=pk)
    try:
        asked = float(request.GET.get("t", 0))
    except ValueError:
        asked = 0.0
    start = min(max(asked, 0.0), video.duration) if math.isfinite(asked) else 0.0
    context = {"video": video, "start": f"{start:.2f}", "moments": video.moments.all()}
    return render(request, "gallery/video.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def image_delete_page(request: HttpRequest, pk: UUID) -> HttpResponse:
    """GET asks for confirmation; POST deletes the image, its files and its vector."""
    image = get_object_or_404(Image.objects.owned_by(request.user), pk=pk)
    if request.method == "GET":
        return render(request, "gallery/delete.html", {"image": image})
    name = str(image)
    try:
        image_delete(image=image)
    except ApplicationError as exc:
        messages.error(request, f"{name} was not deleted: {exc.message}")
        return redirect("gallery:image", pk=pk)
    messages.success(request, f"{name} was deleted.")
    return redirect("gallery:home")


@login_required
def staff_status(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can see the status page.")
    return render(
        request, "gallery/staff_status.html", {"status": system_status(), "nav": "status"}
    )


@login_required
def moderation_queue(request: HttpRequest) -> HttpResponse:
    """Staff: flagged images and videos, oldest first, each with approve and reject; a video
    with its poster, length and the moments that crossed a concept, each linking to it there."""
    if not is_reviewer(request.user):
        raise PermissionDenied("Only staff review flagged images and videos.")
    page = Paginator(review_queue(), 24).get_page(request.GET.get("page"))
    return render(request, "gallery/moderation.html", {"page": page, "nav": "moderation"})


@login_required
@require_POST
def moderation_review(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Staff: approve or reject the flagged image or video `pk` (`image_review`, `video_review`)."""
    if not is_reviewer(request.user):
        raise PermissionDenied("Only staff review flagged images and videos.")
    subject = review_subject(pk)
    if subject is None:
        raise Http404("No such image or video.")
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("gallery:moderation")
    decision, reason = form.cleaned_data["decision"], form.cleaned_data["reason"]
    try:
        if isinstance(subject, Video):
            video_review(video=subject, decision=decision, reviewer=request.user, reason=reason)
        else:
            image_review(image=subject, decision=decision, reviewer=request.user, reason=reason)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        verb = "approved" if decision == "approve" else "rejected"
        messages.success(request, f"{subject} was {verb}.")
    return redirect("gallery:moderation")
