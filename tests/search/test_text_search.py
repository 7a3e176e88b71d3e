"""Search by words: text recognised in pictures, captions, file names, camera and place,
fused with CLIP inside the store, through the real OCR engine, geocoder and demo model."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from gallery.models import Image
from tests.factories import image_bytes, picture
from tests.support.photos import BERLIN, LISBON, camera_exif, require_ocr, words_picture

pytestmark = pytest.mark.django_db


@pytest.fixture
def ocr() -> None:
    require_ocr()


def _search(client: Any, query: Any, **body: Any) -> Any:
    response = client.post("/api/search/", {"query": query, **body}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def _ids(body: Any) -> list[str]:
    return [r["image"]["id"] for r in body["results"]]


def _sign(client: Any, upload: Any, lines: list[str], name: str, **fields: Any) -> str:
    response = upload(client, image_bytes(words_picture(lines)), name, **fields)
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


def _shapes(client: Any, upload: Any) -> list[str]:
    """Pictures without words, to make the words' images a small part of the library."""
    ids = []
    for n, shape in enumerate(("circle", "square", "triangle") * 2):
        colour = ((220, 30, 30), (30, 160, 40), (30, 60, 220))[n % 3]
        data = image_bytes(picture(colour, shape=shape, size=(96 + n, 64)))
        ids.append(upload(client, data, f"img{n}.png").json()["id"])
    return ids


def test_a_word_in_the_picture_finds_it_first(ocr: None, alice_api: Any, upload: Any) -> None:
    _shapes(alice_api, upload)
    invoice = _sign(alice_api, upload, ["INVOICE 2024"], "scan1.png")
    gate = _sign(alice_api, upload, ["GATE B12"], "scan2.png")
    row = Image.objects.get(pk=invoice)
    assert "INVOICE" in row.recognised_text
    assert row.text_engine.startswith("tesseract")
    assert row.text_words
    assert all(0 <= v <= 1 for w in row.text_words for v in w["b"])

    for mode in ("hybrid", "text"):
        body = _search(alice_api, "invoice", mode=mode)
        assert _ids(body)[0] == invoice, mode
        top = body["results"][0]
        assert "text" in top["matched"]
        snippet = top["snippet"]
        assert snippet["source"] == "text"
        start, end = snippet["highlights"][0]
        assert snippet["text"][start:end].lower() == "invoice"
    assert _ids(_search(alice_api, "gate b12", mode="text"))[0] == gate
    # The words alone find only what holds them.
    assert _ids(_search(alice_api, "invoice", mode="text")) == [invoice]
    # CLIP alone knows nothing of the words: its results are not marked as text matches.
    semantic = _search(alice_api, "invoice", mode="semantic")
    assert all(r["matched"] == ["semantic"] for r in semantic["results"])


def test_a_quoted_phrase_must_appear_as_written(ocr: None, alice_api: Any, upload: Any) -> None:
    together = _sign(alice_api, upload, ["GATE B12 CLOSED"], "a.png")
    apart = _sign(alice_api, upload, ["B12", "NEXT GATE"], "b.png")

    assert set(_ids(_search(alice_api, "gate b12", mode="text"))) == {together, apart}
    for mode in ("text", "hybrid"):
        assert _ids(_search(alice_api, '"gate b12"', mode=mode)) == [together], mode


def test_has_text_filter(ocr: None, alice_api: Any, upload: Any) -> None:
    shapes = _shapes(alice_api, upload)
    sign = _sign(alice_api, upload, ["EXIT"], "exit.png")
    has = {"must": [{"key": "has_text", "match": {"value": True}}]}
    hasnt = {"must": [{"key": "has_text", "match": {"value": False}}]}

    assert _ids(_search(alice_api, "shape", filters=has, mode="semantic")) == [sign]
    assert set(_ids(_search(alice_api, "shape", filters=hasnt, limit=50))) == set(shapes)


def test_words_never_reach_another_users_private_image(
    ocr: None, alice_api: Any, bob_api: Any, upload: Any
) -> None:
    secret = _sign(bob_api, upload, ["INVOICE 2024"], "bob.png")
    shared = _sign(bob_api, upload, ["INVOICE 2025"], "bob2.png", visibility="public")

    for mode in ("hybrid", "text"):
        assert _ids(_search(alice_api, "invoice", mode=mode)) == [shared], mode
    assert set(_ids(_search(bob_api, "invoice", mode="text"))) == {secret, shared}


def test_a_caption_is_searchable_and_only_its_owner_sets_it(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    ids = _shapes(alice_api, upload)
    target = ids[2]
    patch = alice_api.patch(
        f"/api/images/{target}/", {"description": "Grandma's birthday cake"}, format="json"
    )
    assert patch.status_code == 200, patch.json()
    assert patch.json()["description"] == "Grandma's birthday cake"

    body = _search(alice_api, "birthday")
    assert _ids(body)[0] == target
    top = body["results"][0]
    assert top["snippet"]["source"] == "description"
    assert "text" in top["matched"]
    # Stemmed: "birthdays" is the same term.
    assert _ids(_search(alice_api, "birthdays", mode="text")) == [target]

    assert (
        bob_api.patch(f"/api/images/{target}/", {"description": "x"}, format="json").status_code
        == 404
    )
    too_long = alice_api.patch(f"/api/images/{target}/", {"description": "x" * 2001}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "invalid"

    # A new caption replaces the old words in the store.
    alice_api.patch(f"/api/images/{target}/", {"description": "a picnic"}, format="json")
    assert _ids(_search(alice_api, "birthday", mode="text")) == []
    assert _ids(_search(alice_api, "picnic", mode="text")) == [target]


def test_file_names_are_searchable(alice_api: Any, upload: Any) -> None:
    _shapes(alice_api, upload)
    named = upload(alice_api, image_bytes(picture(size=(80, 80))), "summer_holiday-crete.png")
    assert _ids(_search(alice_api, "crete", mode="text")) == [named.json()["id"]]


@override_settings(MODERATION_QUERY_BLOCKLIST=["forbidden"])
def test_blocklisted_words_in_a_picture_or_caption_flag_it(
    ocr: None, alice_api: Any, upload: Any
) -> None:
    sign = _sign(alice_api, upload, ["FORBIDDEN"], "sign.png")
    row = Image.objects.get(pk=sign)
    assert row.moderation == Image.Moderation.FLAGGED
    assert "forbidden" in row.moderation_reason

    (plain,) = _shapes(alice_api, upload)[:1]
    alice_api.patch(f"/api/images/{plain}/", {"description": "forbidden fruit"}, format="json")
    assert Image.objects.get(pk=plain).moderation == Image.Moderation.FLAGGED


def _photo(position: tuple[float, float], colour: tuple[int, int, int]) -> bytes:
    exif = camera_exif(make="FUJIFILM", model="X-T4", lens="XF23mmF2 R WR", position=position)
    return image_bytes(picture(colour, size=(120, 80)), "JPEG", exif=exif)


def test_a_geotagged_photo_is_found_by_its_city_and_the_place_filter(
    alice_api: Any, upload: Any
) -> None:
    lisbon = upload(alice_api, _photo(LISBON, (200, 40, 40)), "IMG_1.jpg").json()
    berlin = upload(alice_api, _photo(BERLIN, (40, 40, 200)), "IMG_2.jpg").json()
    assert lisbon["place"] == {
        "city": "Lisbon",
        "region": lisbon["place"]["region"],
        "country": "Portugal",
        "country_code": "PT",
    }
    assert lisbon["camera"] == "FUJIFILM X-T4"

    assert _ids(_search(alice_api, "lisbon"))[0] == lisbon["id"]
    assert _ids(_search(alice_api, "lisbon", mode="text")) == [lisbon["id"]]
    by_place = {"must": [{"key": "place", "match": {"value": "Lisbon"}}]}
    assert _ids(_search(alice_api, "photo", filters=by_place)) == [lisbon["id"]]
    by_country = {"must": [{"key": "country", "match": {"value": "de"}}]}
    assert _ids(_search(alice_api, "photo", filters=by_country)) == [berlin["id"]]
    near = {"must": [{"key": "location", "near": {"lat": 38.7, "lon": -9.1, "km": 25}}]}
    assert _ids(_search(alice_api, "photo", filters=near)) == [lisbon["id"]]
    by_camera = {"must": [{"key": "camera", "match": {"value": "fujifilm x-t4"}}]}
    assert len(_ids(_search(alice_api, "photo", filters=by_camera))) == 2


def test_an_unshared_location_stays_hidden_from_others(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    photo = upload(alice_api, _photo(LISBON, (200, 40, 40)), "IMG_1.jpg", visibility="public")
    image_id = photo.json()["id"]
    by_place = {"must": [{"key": "place", "match": {"value": "lisbon"}}]}
    not_there = {"must_not": [{"key": "place", "match": {"value": "lisbon"}}]}
    near = {"must": [{"key": "location", "near": {"lat": 38.7, "lon": -9.1, "km": 25}}]}

    seen = bob_api.get(f"/api/images/{image_id}/").json()
    assert seen["place"] is None
    assert seen["location"] is None
    assert _ids(_search(bob_api, "photo")) == [image_id]  # the image itself is public
    for flt in (by_place, near):
        assert _ids(_search(bob_api, "photo", filters=flt)) == []
    # Nor does excluding the place tell it: unshared, it is nowhere to others.
    assert _ids(_search(bob_api, "photo", filters=not_there)) == [image_id]
    assert _ids(_search(bob_api, "lisbon", mode="text")) == []
    # Its owner still sees and finds it by place.
    assert alice_api.get(f"/api/images/{image_id}/").json()["place"]["city"] == "Lisbon"
    assert _ids(_search(alice_api, "photo", filters=by_place)) == [image_id]

    shared = alice_api.patch(f"/api/images/{image_id}/", {"location_shared": True}, format="json")
    assert shared.status_code == 200
    assert bob_api.get(f"/api/images/{image_id}/").json()["place"]["city"] == "Lisbon"
    assert _ids(_search(bob_api, "photo", filters=by_place)) == [image_id]
    assert _ids(_search(bob_api, "lisbon", mode="text")) == [image_id]


@pytest.mark.parametrize(
    ("flt", "fragment"),
    [
        ({"key": "location", "near": {"lat": 91, "lon": 0, "km": 5}}, "lat"),
        ({"key": "location", "near": {"lat": 1, "lon": 2}}, "near"),
        ({"key": "location", "near": {"lat": 1, "lon": 2, "km": 0}}, "km"),
        ({"key": "location", "bbox": {"north": 1, "south": 2, "west": 0, "east": 1}}, "south"),
        ({"key": "has_text", "match": {"value": "yes"}}, "true or false"),
        ({"key": "location", "match": {"value": "x"}}, "near or bbox"),
    ],
)
def test_malformed_place_filters_are_400s(alice_api: Any, flt: Any, fragment: str) -> None:
    response = alice_api.post(
        "/api/search/", {"query": "x", "filters": {"must": [flt]}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_filter"
    assert fragment in response.json()["error"]["message"]


def test_modes_are_validated(alice_api: Any) -> None:
    bad = alice_api.post("/api/search/", {"query": "x", "mode": "fuzzy"}, format="json")
    assert bad.status_code == 400
    by_image = alice_api.post(
        "/api/search/",
        {"image_id": "00000000-0000-4000-8000-000000000000", "mode": "text"},
        format="json",
    )
    assert by_image.status_code == 400
    assert by_image.json()["error"]["code"] == "invalid_mode"


def test_the_owners_default_decides_for_new_uploads(
    alice_api: Any, bob_api: Any, upload: Any
) -> None:
    assert alice_api.get("/api/preferences/").json() == {"share_location": False}
    changed = alice_api.patch("/api/preferences/", {"share_location": True}, format="json")
    assert changed.json() == {"share_location": True}
    bad = alice_api.patch("/api/preferences/", {"share_location": "often"}, format="json")
    assert bad.status_code == 400

    photo = upload(alice_api, _photo(LISBON, (200, 40, 40)), "IMG_9.jpg", visibility="public")

    assert photo.json()["location_shared"] is True
    seen = bob_api.get(f"/api/images/{photo.json()['id']}/").json()
    assert seen["place"]["city"] == "Lisbon"
    # Bob's own default is untouched.
    assert bob_api.get("/api/preferences/").json() == {"share_location": False}
