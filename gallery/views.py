"""The web pages. Each view parses a form, calls a service, and renders a template.

Uploading from the page goes through the JSON API (`POST /api/images/`) with
the session and the CSRF header, so the page can show each file's progress;
the form here is the same upload for browsers without JavaScript.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseServerError,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from clipsite.api import json_not_found, json_server_error
from clipsite.errors import ApplicationError
from gallery.forms import ReviewForm, SearchForm, UploadForm, VisibilityForm
from gallery.models import Image
from gallery.services import image_create, image_delete, image_reindex, image_set_visibility
from gallery.status import system_status
from search.duplicates import image_duplicates
from search.services import SearchPage, search, similar_images
from search.throttling import LoginIPThrottle, LoginUsernameThrottle, UserScopedThrottle

GALLERY_PAGE_SIZE = 48
SEARCH_PAGE_SIZE = 24
SIMILAR_COUNT = 8


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    """Own and public images, newest first; `?mine=1` for own images only."""
    mine = request.GET.get("mine") == "1"
    images = (Image.objects.owned_by if mine else Image.objects.visible_to)(request.user)
    page = Paginator(images.select_related("owner"), GALLERY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "gallery/gallery.html", {"page": page, "mine": mine, "nav": "gallery"})


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """The upload page. With JavaScript, files go to the API one by one, with progress;
    this POST is the same for a browser without it."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        for file in form.cleaned_data["images"]:
            try:
                image = image_create(
                    owner=request.user,  # type: ignore[arg-type]
                    upload=file,
                    visibility=form.cleaned_data["visibility"],
                )
            except ApplicationError as exc:
                messages.error(request, f"{file.name}: {exc.message}")
            else:
                messages.success(request, f"{image}: uploaded.")
        return redirect("gallery:upload")
    context = {
        "form": form,
        "nav": "upload",
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "formats": settings.UPLOAD_ALLOWED_FORMATS,
    }
    return render(request, "gallery/upload.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def search_page(request: HttpRequest) -> HttpResponse:
    """Search by text (GET, so the URL can be bookmarked) or by an example image (POST)."""
    if request.method == "POST":
        form = SearchForm(request.POST, request.FILES, user=request.user)
    elif any(name in request.GET for name in SearchForm.FIELDS):
        form = SearchForm(request.GET, user=request.user)
    else:
        form = SearchForm(user=request.user)
    page: SearchPage | None = None
    error = ""
    status = 200
    if form.is_bound and not _within_limits(request, UserScopedThrottle(), scope="search"):
        error, status = "Too many searches in a short time: wait a minute and try again.", 429
    elif form.is_bound and form.is_valid():
        try:
            page = search(user=request.user, request=form.to_request(limit=SEARCH_PAGE_SIZE))
        except ApplicationError as exc:
            error = exc.message
    next_url = ""
    if page is not None and page.next_cursor and request.method == "GET":
        params = request.GET.copy()
        params["cursor"] = page.next_cursor
        next_url = f"?{params.urlencode()}"
    context = {
        "form": form,
        "page": page,
        "error": error,
        "next_url": next_url,
        "by_example": request.method == "POST",
        "nav": "search",
    }
    return render(request, "gallery/search.html", context, status=status)


@login_required
def image_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    """One image: large view, metadata, more like this, near-duplicates; owner controls."""
    image = get_object_or_404(Image.objects.visible_to(request.user).select_related("owner"), pk=pk)
    context: dict[str, Any] = {
        "image": image,
        "is_owner": image.owner_id == request.user.pk,
        "similar": [],
        "duplicates": [],
        "related_error": "",
        "visibility_form": VisibilityForm(initial={"visibility": image.visibility}),
    }
    if image.status == Image.Status.INDEXED:
        try:
            context["similar"] = similar_images(
                user=request.user, image=image, limit=SIMILAR_COUNT
            ).results
            context["duplicates"] = image_duplicates(user=request.user, image=image)
        except ApplicationError as exc:
            context["related_error"] = exc.message
    return render(request, "gallery/detail.html", context)


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
    """Staff: flagged images, oldest first, each with approve and reject."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff review flagged images.")
    queue = Image.objects.awaiting_review().select_related("owner").order_by("uploaded_at")
    page = Paginator(queue, 24).get_page(request.GET.get("page"))
    return render(request, "gallery/moderation.html", {"page": page, "nav": "moderation"})


@login_required
@require_POST
def moderation_review(request: HttpRequest, pk: UUID) -> HttpResponse:
    from search.moderation import image_review

    if not request.user.is_staff:
        raise PermissionDenied("Only staff review flagged images.")
    image = get_object_or_404(Image, pk=pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("gallery:moderation")
    try:
        image_review(
            image=image,
            decision=form.cleaned_data["decision"],
            reviewer=request.user,
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        verb = "approved" if form.cleaned_data["decision"] == "approve" else "rejected"
        messages.success(request, f"{image} was {verb}.")
    return redirect("gallery:moderation")


class LoginPage(LoginView):
    """Sign-in, with the API's sign-in limits (per address and per username)."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _within_limits(request, LoginIPThrottle(), LoginUsernameThrottle()):
            return super().post(request, *args, **kwargs)
        # An unbound form: validating it would try the password once more.
        form = self.form_class(request, initial={"username": request.POST.get("username", "")})
        message = "Too many sign-in attempts: wait a minute and try again."
        context = self.get_context_data(form=form, throttled=message)
        return self.render_to_response(context, status=429)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["signup_enabled"] = settings.SIGNUP_ENABLED
        return context


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in; a 404 unless `SIGNUP_ENABLED`."""
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is not enabled.")
    if request.user.is_authenticated:
        return redirect("gallery:home")
    form: UserCreationForm[Any] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save())
        messages.success(request, "Welcome! Your account is ready: upload your first images.")
        return redirect("gallery:upload")
    return render(request, "registration/signup.html", {"form": form})


def _within_limits(request: HttpRequest, *throttles: BaseThrottle, scope: str = "") -> bool:
    """Whether `request` fits the API's rate limits (`search.throttling`): pages and API
    share each scope's budget, so a page is no way around a limit. Records the request."""
    # Django parses the form first, so DRF reads it from request.POST (the body
    # stream can be read only once).
    request.POST  # noqa: B018
    api_request = Request(request, parsers=[FormParser(), MultiPartParser()])
    api_request.user = request.user
    view = SimpleNamespace(throttle_scope=scope)
    return all(throttle.allow_request(api_request, view) for throttle in throttles)  # type: ignore[arg-type]


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBase:
    """A page for people, the JSON error shape for the API."""
    if _is_api(request):
        return json_not_found(request, exception)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponseBase:
    if _is_api(request):
        return json_server_error(request)
    # No request context: whatever failed may fail again while rendering it.
    return HttpResponseServerError(loader.get_template("500.html").render())


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")
