"""Two processes, one budget: rate limits live in Redis, not in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import api_client, make_user

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]

OTHER_PROCESS = """
import json, os, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from tests.factories import api_client
user = get_user_model().objects.get(username="alice")
client = api_client(user)
def post():
    return client.post("/api/search/", {"query": ""}, format="json", HTTP_HOST="localhost")
codes = [post().json()["error"]["code"] for _ in range(4)]
print(json.dumps(codes))
"""


def test_two_processes_share_one_search_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {**SimpleRateThrottle.THROTTLE_RATES, "search": "5/min"},
    )
    alice = make_user("alice")
    client = api_client(alice)
    here = [client.post("/api/search/", {"query": ""}, format="json").status_code for _ in range(2)]

    db = connection.settings_dict
    env: dict[str, Any] = {
        **os.environ,
        "THROTTLE_SEARCH": "5/min",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
    }
    there = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    other = json.loads(there.stdout.strip().splitlines()[-1])
    after = client.post("/api/search/", {"query": ""}, format="json")

    # 5 per minute in all: 2 here, then 3 there, then both processes are refused.
    assert here == [400, 400]
    assert other == ["invalid", "invalid", "invalid", "throttled"]
    assert after.status_code == 429
