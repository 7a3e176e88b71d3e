"""Rate limits, kept in the shared cache (Redis in production) so they hold across processes.

Scopes and rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`. Pages
spend from the same budgets as the API (`page_within_limits`), so a page is no
way around a limit.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle


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


class _PageView:
    """What a throttle reads from a view: its scope, and no weight."""

    def __init__(self, scope: str) -> None:
        self.throttle_scope = scope


def page_within_limits(request: HttpRequest, *throttles: BaseThrottle, scope: str = "") -> bool:
    """Whether a page request fits `throttles` (the API's), recording it when it does."""
    # Django parses the form first, so DRF reads it from request.POST (the body
    # stream can be read only once).
    request.POST  # noqa: B018
    api_request = Request(request, parsers=[FormParser(), MultiPartParser()])
    api_request.user = request.user
    view = _PageView(scope)
    return all(throttle.allow_request(api_request, view) for throttle in throttles)  # type: ignore[arg-type]
