from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as accounts
from accounts.apikeys import ApiKeyListApi, ApiKeyRevokeApi
from accounts.auth import LoginApi, LogoutApi, RefreshApi
from clipsite import health
from clipsite.metrics import metrics_view
from gallery import urls as gallery_pages
from search import urls as search_pages

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
    path("accounts/login/", accounts.LoginPage.as_view(), name="login"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    # One namespace for the site's pages, whichever app serves them.
    path("", include(([*gallery_pages.urlpatterns, *search_pages.urlpatterns], "gallery"))),
]

# JSON under /api/, pages elsewhere.
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"
