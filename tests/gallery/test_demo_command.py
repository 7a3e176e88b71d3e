from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from gallery.models import Image


@pytest.mark.django_db(transaction=True)  # after-commit indexing runs as in production
def test_demo_creates_a_user_and_an_indexed_gallery_and_is_rerunnable(
    settings: Any, tmp_path: Any
) -> None:
    settings.DATA_DIR = tmp_path
    out = io.StringIO()

    call_command(
        "demo", "--count", "8", "--password", "demo-pass-123", stdout=out, stderr=io.StringIO()
    )

    assert (
        Image.objects.filter(owner__username="demo", status="indexed", visibility="public").count()
        == 8
    )
    assert "Sign in as 'demo' with password 'demo-pass-123'" in out.getvalue()
    assert authenticate(username="demo", password="demo-pass-123") is not None

    again = io.StringIO()
    call_command("demo", "--count", "8", stdout=again, stderr=io.StringIO())
    assert Image.objects.count() == 8
    assert "8 already there" in again.getvalue()
