"""Token endpoints: sign in (throttled per address and per username), refresh, sign out."""

from __future__ import annotations

from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from accounts.throttling import LoginIPThrottle, LoginUsernameThrottle
from core.throttling import UserScopedThrottle


class LoginApi(TokenObtainPairView):
    throttle_classes = [LoginIPThrottle, LoginUsernameThrottle]


class RefreshApi(TokenRefreshView):
    """Returns a new access token and a new refresh token; the old refresh token is blacklisted."""

    throttle_classes = [UserScopedThrottle]
    throttle_scope = "auth"


class LogoutApi(TokenBlacklistView):
    """Blacklists the given refresh token, so it can never be refreshed again."""

    throttle_classes = [UserScopedThrottle]
    throttle_scope = "auth"
