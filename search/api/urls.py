from __future__ import annotations

from django.urls import path

from search.api.views import ImageSearchApi, SearchApi

urlpatterns = [
    path("search/", SearchApi.as_view(), name="search"),
    path("search/image/", ImageSearchApi.as_view(), name="search-image"),
]
