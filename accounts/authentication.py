"""`Authorization: Api-Key <key>` for scripts.

Kept apart from the key endpoints: DRF imports authentication classes while
its views are being defined.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the key as: Authorization: Api-Key <key>.")
        api_key = ApiKey.authenticate(header[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
