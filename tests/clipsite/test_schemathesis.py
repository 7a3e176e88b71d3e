"""Schemathesis against a live server: no 500s, and every response matches the schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_server_errors_and_responses_match_the_schema(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rate limits would answer most generated requests with 429 before the
    # view reads them (testing nothing, and leaving request bodies unread on
    # kept-alive connections); DRF reads its rates once, at import.
    unlimited = dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, "100000/min")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", unlimited)
    token = RefreshToken.for_user(make_user("fuzz")).access_token
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{live_server.url}/api/schema/",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        "12",
        "--header",
        f"Authorization: Bearer {token}",
        "--request-timeout",
        "60",
        # Reproducible: the same generated requests in every run.
        "--seed",
        "1",
    ]

    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_COLOR": "1"},
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
