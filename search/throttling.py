"""Rate limits, kept in the shared cache (Redis in production) so they hold across processes.

Scopes and rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle


class LoginIPThrottle(SimpleRateThrottle):
    """Sign-in attempts per client address: slows credential stuffing from one host."""

    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    """Sign-in attempts per username, from anywhere: slows guessing one account's password."""

    scope = "login_username"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None
        # Hashed: a username is user input, and cache keys must be plain and bounded.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserScopedThrottle(ScopedRateThrottle):
    """DRF's scoped throttle (per user when signed in, else per address), with weights.

    A view may define `throttle_weight(request) -> int`, so that a batch of 32
    searches spends 32 from the search budget, not one.
    """

    weight = 1

    def allow_request(self, request: Request, view: Any) -> bool:
        weigh = getattr(view, "throttle_weight", None)
        self.weight = max(1, int(weigh(request))) if weigh else 1
        return super().allow_request(request, view)

    def throttle_success(self) -> bool:
        limit: int = getattr(self, "num_requests", 0)
        if len(self.history) + self.weight > limit:
            return self.throttle_failure()
        self.history[:0] = [self.now] * self.weight
        self.cache.set(self.key, self.history, getattr(self, "duration", 60))
        return True
