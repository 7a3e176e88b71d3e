from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from tests.factories import image_bytes, picture

pytestmark = pytest.mark.django_db


def _with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_key_works_like_its_user_and_is_stored_only_hashed(alice_api: Any, upload: Any) -> None:
    image_id = upload(alice_api, image_bytes(picture())).json()["id"]

    created = alice_api.post("/api/keys/", {"name": "backup script"}, format="json")

    assert created.status_code == 201
    key = created.json()["key"]
    stored = ApiKey.objects.get()
    assert key not in {stored.prefix, stored.key_hash}
    assert stored.key_hash == ApiKey.hash(key)
    listing = _with_key(key).get("/api/images/").json()
    assert [item["id"] for item in listing["results"]] == [image_id]
    assert "key" not in alice_api.get("/api/keys/").json()["results"][0]
    assert ApiKey.objects.get().last_used_at is not None


def test_revoked_wrong_and_malformed_keys_are_refused(alice_api: Any) -> None:
    key = alice_api.post("/api/keys/", {"name": "k"}, format="json").json()["key"]
    key_id = ApiKey.objects.get().pk
    wrong_secret = key[: key.rindex("_") + 1] + "x" * 32

    assert _with_key(wrong_secret).get("/api/images/").status_code == 401
    assert _with_key("cs_nothing").get("/api/images/").status_code == 401
    assert alice_api.delete(f"/api/keys/{key_id}/").status_code == 204
    refused = _with_key(key).get("/api/images/")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_a_key_cannot_mint_keys_or_touch_other_users_keys(alice_api: Any, bob_api: Any) -> None:
    key = alice_api.post("/api/keys/", {"name": "k"}, format="json").json()["key"]
    key_id = ApiKey.objects.get().pk

    assert _with_key(key).post("/api/keys/", {"name": "more"}, format="json").status_code == 403
    assert bob_api.delete(f"/api/keys/{key_id}/").status_code == 404
    assert ApiKey.objects.active().count() == 1
