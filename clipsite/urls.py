from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from clipsite import health

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("", include("gallery.api.urls")),
    path("", include("search.api.urls")),
]

urlpatterns = [
    path("api/", include((api_patterns, "api"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

handler404 = "clipsite.api.json_not_found"
handler500 = "clipsite.api.json_server_error"
