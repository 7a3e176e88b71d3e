"""Search that understands pictures: behavioural tests through the real API with the demo model.

The demo model (models/demo-clip-shapes, trained by scripts/train_demo_clip.py)
knows the synthetic world's colours and sizes well and its shapes only partly
(see README, "The demo model"); these tests would fail with an untrained model.
"""

from __future__ import annotations

import io
import random
from typing import Any

import pytest

from demo import render_numpy, render_pil, sample_scene
from tests.factories import upload_file

pytestmark = pytest.mark.django_db

COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
SHAPES = ("circle", "square")


@pytest.fixture(autouse=True)
def demo_model() -> Any:
    """The tests' CLIP_MODEL is the demo model (pyproject.toml, [tool.pytest_env])."""
    from encoder.clip import get_encoder

    encoder = get_encoder()
    assert encoder.dim == 128, "these tests need the trained demo model"
    return encoder


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def gallery(alice_api: Any, upload: Any) -> dict[str, dict[str, Any]]:
    """Colour x size x shape, one object each, by the training renderer."""
    rng = random.Random(2024)
    catalogue: dict[str, dict[str, Any]] = {}
    for colour in COLOURS:
        for size in SIZES:
            for shape in SHAPES:
                scene = sample_scene(
                    rng,
                    1,
                    shape=shape,
                    colour=colour,
                    size=size,
                    background=rng.choice(("light", "dark")),
                )
                response = upload(alice_api, _png(render_pil(scene, 96, 96, rng)), f"{colour}.png")
                assert response.status_code == 201, response.json()
                catalogue[response.json()["id"]] = {
                    "colour": colour,
                    "size": size,
                    "shape": shape,
                    "scene": scene,
                }
    return catalogue


def _search(client: Any, **body: Any) -> list[str]:
    response = client.post("/api/search/", {"limit": 16, **body}, format="json")
    assert response.status_code == 200, response.json()
    return [r["image"]["id"] for r in response.json()["results"]]


def test_a_text_query_returns_a_matching_image_first(alice_api: Any, gallery: Any) -> None:
    matched = []
    for colour in COLOURS:
        for size in SIZES:
            top = gallery[_search(alice_api, query=f"a {size} {colour} shape", limit=1)[0]]
            assert top["colour"] == colour
            matched.append(top["size"] == size)
    assert sum(matched) >= 7  # of 8: "large" is the demo model's weakest word


def test_colour_only_queries_rank_that_colour_above_all_others(
    alice_api: Any, gallery: Any
) -> None:
    for colour in COLOURS:
        ranked = [gallery[i]["colour"] for i in _search(alice_api, query=colour)]
        assert ranked[:4] == [colour] * 4, colour


def test_search_by_image_finds_the_same_scene_in_another_rendering(
    alice_api: Any, gallery: Any
) -> None:
    rng = random.Random(7)
    for image_id, item in gallery.items():
        other = render_numpy(item["scene"], 140, 110, rng)  # another renderer, another size
        response = alice_api.post(
            "/api/search/image/", {"file": upload_file(_png(other)), "limit": 3}, format="multipart"
        )
        top = [r["image"]["id"] for r in response.json()["results"]]
        assert image_id in top, item["colour"] + " " + item["size"] + " " + item["shape"]


def test_a_negative_term_pushes_its_concept_down(alice_api: Any, gallery: Any) -> None:
    plain = [gallery[i] for i in _search(alice_api, query="circle", limit=8)]
    steered = [gallery[i] for i in _search(alice_api, query="circle", negative=["red"], limit=8)]

    def first_red(results: list[dict[str, Any]]) -> int:
        return next((n for n, g in enumerate(results) if g["colour"] == "red"), len(results))

    assert first_red(steered) > first_red(plain)
    assert all(g["colour"] != "red" for g in steered[:3])
    assert sum(g["shape"] == "circle" for g in steered[:3]) >= 2


def test_text_weight_moves_results_between_text_and_image(alice_api: Any, gallery: Any) -> None:
    red = next(i for i, g in gallery.items() if g["colour"] == "red" and g["size"] == "large")

    image_heavy = _search(
        alice_api, mode="semantic", query="blue", image_id=red, text_weight=0.1, limit=1
    )
    text_heavy = _search(
        alice_api, mode="semantic", query="blue", image_id=red, text_weight=0.9, limit=1
    )

    assert gallery[image_heavy[0]]["colour"] == "red"
    assert gallery[text_heavy[0]]["colour"] == "blue"


def test_near_duplicates_find_a_re_encoded_copy(
    alice_api: Any, upload: Any, gallery: Any, settings: Any
) -> None:
    from PIL import Image as PILImage

    original_id = next(iter(gallery))
    original = alice_api.get(f"/api/images/{original_id}/file/")
    picture = PILImage.open(io.BytesIO(b"".join(original.streaming_content))).convert("RGB")
    out = io.BytesIO()
    picture.resize((80, 80)).save(out, format="JPEG", quality=80)
    copy_id = upload(alice_api, out.getvalue(), "copy.jpg").json()["id"]

    found = alice_api.get(f"/api/images/{original_id}/duplicates/").json()["results"]
    groups = alice_api.get("/api/duplicates/").json()["groups"]

    assert [r["image"]["id"] for r in found] == [copy_id]
    assert [{r["image"]["id"] for r in g} for g in groups] == [{original_id, copy_id}]


def test_an_unsafe_demo_concept_is_flagged_and_hidden(
    alice_api: Any, bob_api: Any, upload: Any, settings: Any
) -> None:
    from gallery.models import Image

    settings.MODERATION_CONCEPTS = {"a red triangle": CONCEPT_THRESHOLD}
    settings.MODERATION_QUERY_MARGIN = 10.0
    rng = random.Random(5)
    ids = {}
    for colour, shape in (("red", "triangle"), ("blue", "circle"), ("green", "square")):
        scene = sample_scene(rng, 1, shape=shape, colour=colour, size="large", background="light")
        data = _png(render_pil(scene, 96, 96, rng))
        ids[colour] = upload(alice_api, data, visibility="public").json()["id"]

    states = {colour: Image.objects.get(pk=i).moderation for colour, i in ids.items()}

    assert states == {"red": "flagged", "blue": "", "green": ""}
    seen = set(_search(bob_api, query="a shape", limit=10))
    assert ids["red"] not in seen
    assert {ids["blue"], ids["green"]} <= seen


def test_a_query_for_an_unsafe_concept_is_rejected(alice_api: Any, settings: Any) -> None:
    settings.MODERATION_CONCEPTS = {"a red triangle": CONCEPT_THRESHOLD}
    settings.MODERATION_QUERY_MARGIN = 0.3

    rejected = alice_api.post("/api/search/", {"query": "red triangle"}, format="json")
    allowed = alice_api.post("/api/search/", {"query": "a blue circle"}, format="json")

    assert rejected.status_code == 400
    assert rejected.json()["error"]["code"] == "query_rejected"
    assert allowed.status_code == 200


# Cosine between an image and the concept's prompt-ensembled text vector,
# calibrated on the demo model: a red triangle scores above, other colours far below.
CONCEPT_THRESHOLD = 0.4
