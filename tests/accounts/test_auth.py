from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import PASSWORD, api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Low limits for the test (DRF reads its rates once, at import)."""
    low = dict(SimpleRateThrottle.THROTTLE_RATES)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", low)
    return low


def _login(
    client: APIClient, username: str = "alice", password: str = PASSWORD, **extra: Any
) -> Any:
    return client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", **extra
    )


def test_refresh_rotates_and_the_old_refresh_token_is_dead(alice: Any) -> None:
    client = APIClient()
    first = _login(client).json()

    rotated = client.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    replayed = client.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")

    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first["refresh"]
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "token_not_valid"


def test_logout_blacklists_the_refresh_token(alice: Any) -> None:
    client = APIClient()
    tokens = _login(client).json()

    assert (
        client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code
        == 200
    )
    after = client.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")

    assert after.status_code == 401
    assert after.json()["error"]["code"] == "token_not_valid"


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ."]
)
def test_bad_or_unsigned_tokens_are_refused(alice: Any, token: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.get("/api/images/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] in {
        "token_not_valid",
        "bad_authorization_header",
        "not_authenticated",
    }


def test_login_is_throttled_per_username_from_any_address(
    alice: Any, rates: dict[str, str]
) -> None:
    rates["login_username"] = "3/min"
    codes = [
        _login(APIClient(), password="wrong", REMOTE_ADDR=f"10.0.0.{i}").status_code
        for i in range(4)
    ]
    right_password = _login(APIClient(), REMOTE_ADDR="10.0.0.99")

    assert codes == [401, 401, 401, 429]
    assert right_password.status_code == 429
    assert right_password.json()["error"]["code"] == "throttled"
    assert int(right_password["Retry-After"]) > 0


def test_login_is_throttled_per_address_across_usernames(alice: Any, rates: dict[str, str]) -> None:
    rates["login_ip"] = "3/min"
    codes = [
        _login(APIClient(), username=f"user{i}", REMOTE_ADDR="10.1.1.1").status_code
        for i in range(4)
    ]

    assert codes == [401, 401, 401, 429]
    assert _login(APIClient(), REMOTE_ADDR="10.1.1.2").status_code == 200


def test_search_limit_returns_429_with_retry_after(alice: Any, rates: dict[str, str]) -> None:
    rates["search"] = "3/min"
    client = api_client(alice)

    codes = [
        client.post("/api/search/", {"query": ""}, format="json").status_code for _ in range(4)
    ]
    last = client.post("/api/search/", {"query": "x"}, format="json")

    assert codes == [400, 400, 400, 429]
    assert last.status_code == 429
    assert last.json()["error"]["code"] == "throttled"
    assert last.json()["error"]["message"]
    assert 0 < int(last["Retry-After"]) <= 60


def test_a_batch_spends_one_unit_per_search(alice: Any, rates: dict[str, str]) -> None:
    rates["search"] = "5/min"
    client = api_client(alice)

    batch = client.post("/api/search/batch/", {"searches": [{"query": ""}] * 6}, format="json")
    small = client.post("/api/search/batch/", {"searches": [{}] * 5}, format="json")

    assert batch.status_code == 429
    assert small.status_code == 400  # within budget, then refused as invalid


def test_each_user_has_a_budget_of_their_own(alice: Any, bob: Any, rates: dict[str, str]) -> None:
    rates["search"] = "2/min"
    for _ in range(2):
        api_client(alice).post("/api/search/", {"query": ""}, format="json")

    assert api_client(alice).post("/api/search/", {"query": ""}, format="json").status_code == 429
    assert api_client(bob).post("/api/search/", {"query": ""}, format="json").status_code == 400


def test_default_search_rate_is_at_most_300_per_minute() -> None:
    from django.conf import settings

    number, period = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["search"].split("/")
    assert int(number) <= 300
    assert period.startswith("m")
