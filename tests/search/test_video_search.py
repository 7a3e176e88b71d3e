"""Search finds videos at the moment that matches: one result per video, with its best moments.

A rendered film of demo scenes that change at known times, the real demo CLIP model, the
embedded engine, and the API end to end."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from demo import render_pil
from demo.scenes import sample_scene
from gallery.models import Video
from gallery.videoprobe import video_poster, video_probe
from tests.factories import image_bytes, make_user, picture, upload_file
from tests.support.videos import FILM_LENGTHS, captioned_film, render_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def film(tmp_path: Path) -> tuple[bytes, list[str]]:
    return captioned_film(tmp_path / "film.mp4")


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_a_text_query_finds_the_video_at_the_moment_it_describes(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
    mode: str,
) -> None:
    data, captions = film
    video = post_video(alice_api, data).json()
    upload(alice_api, image_bytes(picture((250, 250, 250), shape="square")))

    found = alice_api.post(
        "/api/search/", {"query": captions[1], "limit": 5, "mode": mode}, format="json"
    ).json()["results"]

    first = found[0]
    assert first["video"]["id"] == video["id"]
    assert "image" not in first
    best = first["moments"][0]
    assert best["start"] < 5.0
    assert best["end"] > 2.0  # overlaps the time the scene was on screen
    assert first["score"] == best["score"]
    assert 1 <= len(first["moments"]) <= 3
    assert [m["score"] for m in first["moments"]] == sorted(
        (m["score"] for m in first["moments"]), reverse=True
    )
    # One result per video.
    assert [r["video"]["id"] for r in found if "video" in r] == [video["id"]]
    thumbnail = alice_api.get(best["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail["Content-Type"] == "image/webp"


def test_another_users_private_video_is_never_found(
    alice_api: APIClient,
    bob_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
) -> None:
    data, captions = film
    video = post_video(alice_api, data).json()
    query = {"query": captions[1], "limit": 10, "mode": "semantic"}

    assert bob_api.post("/api/search/", query, format="json").json()["results"] == []
    moment = alice_api.post("/api/search/", query, format="json").json()["results"][0]
    assert bob_api.get(moment["moments"][0]["thumbnail_url"]).status_code == 404

    alice_api.patch(f"/api/videos/{video['id']}/", {"visibility": "public"}, format="json")

    shown = bob_api.post("/api/search/", query, format="json").json()["results"]
    assert [r["video"]["id"] for r in shown] == [video["id"]]


def test_pages_of_images_and_videos_do_not_overlap(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
) -> None:
    data, captions = film
    post_video(alice_api, data)
    for n in range(4):
        upload(alice_api, image_bytes(picture((60 * n, 120, 200 - 40 * n), shape="circle")))
    query = {"query": captions[1], "limit": 2, "mode": "semantic"}

    seen, pages, cursor = [], 0, None
    while True:
        body = {**query, "cursor": cursor} if cursor else query
        page = alice_api.post("/api/search/", body, format="json").json()
        seen += [r.get("video", r.get("image"))["id"] for r in page["results"]]
        pages += 1
        cursor = page["next"]
        if not cursor:
            break

    assert len(seen) == len(set(seen)) == 5  # four images and one video, each once
    assert pages == 3


def test_the_search_page_links_a_video_at_its_moment_and_the_video_page_starts_there(
    alice: Any,
    alice_api: APIClient,
    client: Any,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
) -> None:
    data, captions = film
    video = post_video(alice_api, data).json()
    client.force_login(alice)

    page = client.get("/search/", {"q": captions[1], "mode": "semantic"})

    assert page.status_code == 200
    found = re.search(rf'href="/videos/{video["id"]}/\?t=([0-9.]+)"', page.content.decode())
    assert found is not None
    start = float(found.group(1))
    assert start < 5.0
    shown = client.get(f"/videos/{video['id']}/", {"t": start}).content.decode()
    assert f'#t={start:.2f}"' in shown
    assert shown.count("data-seek=") == Video.objects.get(pk=video["id"]).moments_indexed
    # Another user cannot open a private video's page.
    client.force_login(make_user("carol"))
    assert client.get(f"/videos/{video['id']}/").status_code == 404


def _kinds(results: list[dict[str, Any]]) -> list[str]:
    return ["video" if "video" in r else "image" for r in results]


def test_the_kind_and_duration_filters_choose_images_or_videos(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
) -> None:
    data, captions = film
    post_video(alice_api, data)  # 7 seconds long
    for n in range(3):
        upload(alice_api, image_bytes(picture((70 * n, 120, 200 - 50 * n), shape="circle")))

    def found(*conditions: dict[str, Any], clause: str = "must") -> list[str]:
        body = {"query": captions[1], "limit": 10, "mode": "semantic"}
        body["filters"] = {clause: list(conditions)}
        response = alice_api.post("/api/search/", body, format="json")
        assert response.status_code == 200, response.json()
        return _kinds(response.json()["results"])

    assert sorted(found()) == ["image"] * 3 + ["video"]
    assert found({"key": "kind", "match": {"value": "video"}}) == ["video"]
    assert found({"key": "kind", "match": {"value": "image"}}) == ["image"] * 3
    assert found({"key": "kind", "match": {"value": "video"}}, clause="must_not") == ["image"] * 3
    assert sorted(found({"key": "kind", "match": {"any": ["image", "video"]}})) == sorted(
        ["image"] * 3 + ["video"]
    )
    assert found({"key": "duration", "range": {"gte": 5, "lte": 10}}) == ["video"]
    assert found({"key": "duration", "range": {"lt": 5}}) == []
    assert found({"key": "duration", "range": {"gt": 6.5}}) == ["video"]


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ({"key": "kind", "match": {"value": "audio"}}, "kind is image or video"),
        ({"key": "kind", "range": {"gte": 1}}, "kind takes a match"),
        ({"key": "duration", "match": {"value": 3}}, "takes a range"),
        ({"key": "duration", "range": {"gte": "long"}}, "must be a number"),
    ],
)
def test_a_bad_kind_or_duration_condition_is_a_400(
    alice_api: APIClient, condition: dict[str, Any], says: str
) -> None:
    body = {"query": "a red circle", "filters": {"must": [condition]}}
    response = alice_api.post("/api/search/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_filter"
    assert says in response.json()["error"]["message"]


def test_facets_count_each_kind_and_a_video_once(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
) -> None:
    data, captions = film
    video = post_video(alice_api, data).json()
    assert Video.objects.get(pk=video["id"]).moments_indexed > 1
    for n in range(2):
        upload(alice_api, image_bytes(picture((90 * n, 60, 200), shape="square")))

    body = {"query": captions[1], "limit": 10, "mode": "semantic", "facets": True}
    facets = alice_api.post("/api/search/", body, format="json").json()["facets"]

    assert facets["kind"] == {"image": 2, "video": 1}
    assert sum(facets["format"].values()) == 2  # formats are the images'


def test_more_like_this_from_a_moment_finds_what_looks_like_it(
    alice_api: APIClient,
    bob_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
    tmp_path: Path,
) -> None:
    data, _ = film
    video = post_video(alice_api, data).json()
    # A second film whose first scene is the first film's second one.
    rng = random.Random(5)
    scenes = [sample_scene(rng, 1) for _ in FILM_LENGTHS]
    shots = [
        (3.0, render_pil(scenes[1], 160, 120, rng)),
        (3.0, render_pil(scenes[0], 160, 120, rng)),
    ]
    other = post_video(
        alice_api, render_video(tmp_path / "other.mp4", shots, fps=12).read_bytes()
    ).json()
    upload(alice_api, image_bytes(picture((250, 250, 250), shape="square")))

    def similar(at: float) -> list[dict[str, Any]]:
        response = alice_api.get(f"/api/videos/{video['id']}/similar/", {"t": at, "top_k": 5})
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    # From the second scene (2 s to 5 s), the other film's first scene comes first.
    first = similar(3.0)[0]
    assert first["video"]["id"] == other["id"]
    assert first["moments"][0]["start"] < 3.0
    # From the first scene, the other film's second scene (from 3 s) leads it.
    assert similar(0.5)[0]["moments"][0]["start"] >= 2.5
    # The video itself is never among its own similar results.
    assert all(r.get("video", {}).get("id") != video["id"] for r in similar(3.0) + similar(0.5))

    bad = alice_api.get(f"/api/videos/{video['id']}/similar/", {"t": "soon"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_parameter"
    assert bob_api.get(f"/api/videos/{video['id']}/similar/").status_code == 404


def test_search_by_an_uploaded_frame_batch_and_min_score_find_moments(
    alice_api: APIClient,
    film: tuple[bytes, list[str]],
    post_video: Callable[..., Any],
    upload: Any,
    tmp_path: Path,
) -> None:
    data, captions = film
    video = post_video(alice_api, data).json()
    upload(alice_api, image_bytes(picture((250, 250, 250), shape="square")))
    path = tmp_path / "film.mp4"
    path.write_bytes(data)
    frame = io.BytesIO()
    video_poster(path, video_probe(path), at=3.5).save(frame, format="PNG")  # the second scene

    by_frame = alice_api.post(
        "/api/search/image/",
        {"file": upload_file(frame.getvalue(), "frame.png"), "limit": 5},
        format="multipart",
    )
    assert by_frame.status_code == 200, by_frame.json()
    first = by_frame.json()["results"][0]
    assert first["video"]["id"] == video["id"]
    assert first["moments"][0]["start"] < 5.0
    assert first["moments"][0]["end"] > 2.0  # overlaps the second scene

    pages = alice_api.post(
        "/api/search/batch/",
        {"searches": [{"query": c, "limit": 3, "mode": "semantic"} for c in captions[:2]]},
        format="json",
    ).json()["results"]
    for page, (start, end) in zip(pages, [(0.0, 2.0), (2.0, 5.0)], strict=True):
        best = page["results"][0]
        assert best["video"]["id"] == video["id"]
        assert best["moments"][0]["start"] < end
        assert best["moments"][0]["end"] > start

    query = {"query": captions[1], "limit": 10, "mode": "semantic"}
    everything = alice_api.post("/api/search/", query, format="json").json()["results"]
    scores = sorted(m["score"] for r in everything for m in r.get("moments", []))
    threshold = scores[len(scores) // 2]
    kept = alice_api.post("/api/search/", {**query, "min_score": threshold}, format="json").json()[
        "results"
    ]
    moments = [m for r in kept for m in r.get("moments", [])]
    assert moments
    assert all(m["score"] >= threshold for m in moments)
    assert all(r["score"] >= threshold for r in kept)
