"""The pages that search: the search page, and an image's page with more like it and its
near-duplicates. Each view parses a form, calls a service, and renders a template."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from core.throttling import UserScopedThrottle, page_within_limits
from gallery.forms import ImageDetailsForm, VisibilityForm
from gallery.models import Image
from search.duplicates import image_duplicates
from search.forms import SearchForm
from search.services import SearchPage, search, similar_images

SEARCH_PAGE_SIZE = 24
SIMILAR_COUNT = 8


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
    if form.is_bound and not page_within_limits(request, UserScopedThrottle(), scope="search"):
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
    """One image: large view, metadata, its words, more like this, near-duplicates; owner
    controls. Where it was taken shows only to those it is shared with."""
    image = get_object_or_404(Image.objects.visible_to(request.user).select_related("owner"), pk=pk)
    context: dict[str, Any] = {
        "image": image,
        "is_owner": image.owner_id == request.user.pk,
        "show_location": image.location_visible_to(request.user),
        "similar": [],
        "duplicates": [],
        "related_error": "",
        "visibility_form": VisibilityForm(initial={"visibility": image.visibility}),
        "details_form": ImageDetailsForm(
            initial={"description": image.description, "location_shared": image.location_shared}
        ),
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
