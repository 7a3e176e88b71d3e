from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from demo import SIGN_WORDS
from gallery.models import Image
from search.services import SearchRequest, TextTerm, search
from tests.support.photos import require_ocr

SIGNS = len(SIGN_WORDS)


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
        == 8 + SIGNS
    )
    assert "Sign in as 'demo' with password 'demo-pass-123'" in out.getvalue()
    assert authenticate(username="demo", password="demo-pass-123") is not None

    again = io.StringIO()
    call_command("demo", "--count", "8", stdout=again, stderr=io.StringIO())
    assert Image.objects.count() == 8 + SIGNS
    assert f"{8 + SIGNS} already there" in again.getvalue()


@pytest.mark.django_db(transaction=True)
def test_demo_without_signs_indexes_the_scenes_alone(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path

    call_command("demo", "--count", "5", "--no-signs", stdout=io.StringIO(), stderr=io.StringIO())

    assert Image.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_demo_signs_are_found_by_their_words_first(settings: Any, tmp_path: Any) -> None:
    require_ocr()
    settings.DATA_DIR = tmp_path

    call_command("demo", "--count", "30", stdout=io.StringIO(), stderr=io.StringIO())

    folder = next((tmp_path / "demo-gallery").iterdir())
    lines = (folder / "labels.jsonl").read_text().splitlines()
    signs = {
        record["labels"]["sign"]: record["file"]
        for record in map(json.loads, lines)
        if "sign" in record["labels"]
    }
    assert sorted(signs) == sorted(SIGN_WORDS)
    user = get_user_model().objects.get(username="demo")
    for word in ("hotel", "invoice"):
        sign = Image.objects.get(original_filename=signs[word.upper()])
        assert word.upper() in sign.recognised_text
        for mode in ("text", "hybrid"):
            request = SearchRequest(texts=(TextTerm(word),), mode=mode)
            results = search(user=user, request=request).results
            assert results[0].image.pk == sign.pk, (word, mode)
            assert "text" in results[0].matched
