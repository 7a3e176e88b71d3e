from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clipsite import health
from clipsite.apikeys import ApiKeyListApi, ApiKeyRevokeApi
from clipsite.auth import LoginApi, LogoutApi, RefreshApi
from clipsite.metrics import metrics_view
from gallery import views as pages

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/token/", LoginApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", RefreshApi.as_view(), name="token-refresh"),
    path("auth/logout/", LogoutApi.as_view(), name="logout"),
    path("keys/", ApiKeyListApi.as_view(), name="api-keys"),
    path("keys/<int:pk>/", ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("", include("gallery.api.urls")),
    path("", include("search.api.urls")),
]

urlpatterns = [
    path("api/", include((api_patterns, "api"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", pages.LoginPage.as_view(), name="login"),
    path("accounts/signup/", pages.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("gallery.urls")),
]

# JSON under /api/, pages elsewhere.
handler404 = "gallery.views.page_not_found"
handler500 = "gallery.views.server_error"
