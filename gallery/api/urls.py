from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from gallery.api.views import ImageViewSet, PreferencesApi, VideoViewSet

router = SimpleRouter()
router.register("images", ImageViewSet, basename="image")
router.register("videos", VideoViewSet, basename="video")

urlpatterns = [
    path("preferences/", PreferencesApi.as_view(), name="preferences"),
    *router.urls,
]
