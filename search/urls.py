"""The pages that search; `clipsite.urls` mounts them beside gallery's in one namespace."""

from __future__ import annotations

from django.urls import path

from search import views

urlpatterns = [
    path("search/", views.search_page, name="search"),
    path("images/<uuid:pk>/", views.image_detail, name="image"),
]
