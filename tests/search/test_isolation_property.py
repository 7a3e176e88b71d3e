"""Property: no query of any kind ever returns another user's private image, and no query
tells anyone where another user's photo was taken unless its owner shares it; nor any
moment of a video that user may not see."""

from __future__ import annotations

import io
import random
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db.models import Q
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from demo import render_pil
from demo.scenes import sample_scene
from encoder import reset_encoder
from gallery.indexes import search_encoder
from gallery.models import Image, VectorIndex, Video, VideoMoment
from gallery.videos import video_review
from search.services import access_filter
from tests.factories import api_client, image_bytes, make_user, picture, upload_file
from tests.support.models import second_model
from tests.support.photos import LISBON, camera_exif
from tests.support.videos import render_video, scene_picture
from vectorstore import Filter, HasId, Match, get_store

pytestmark = pytest.mark.django_db

PALETTE = [(220, 30, 30), (30, 160, 40), (30, 60, 220), (240, 200, 20), (20, 20, 20), (200, 0, 200)]
SHAPES = ["circle", "square", "triangle"]

# Each image: (owner, visibility, look, whether its owner shares where it was taken).
plans = st.lists(
    st.tuples(
        st.integers(0, 2), st.sampled_from(["private", "public"]), st.integers(0, 17), st.booleans()
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda p: p[2],
)
# Every image is a geotagged photo whose file name holds these words: the
# lexical side and the place filters can reach every one of them.
WORDS_NAME = "holiday beach photo.jpg"
PLACE_FILTERS = [
    {"must": [{"key": "place", "match": {"value": "lisbon"}}]},
    {"must": [{"key": "country", "match": {"any": ["pt", "portugal"]}}]},
    {"must": [{"key": "location", "near": {"lat": 38.72, "lon": -9.14, "km": 30}}]},
]


def _photo(look: int) -> bytes:
    exif = camera_exif(position=LISBON)
    return image_bytes(picture(PALETTE[look % 6], shape=SHAPES[look // 6]), "JPEG", exif=exif)


def _forbidden_for(viewer: Any) -> set[str]:
    return {
        str(pk)
        for pk in Image.objects.exclude(owner=viewer)
        .filter(visibility="private")
        .values_list("pk", flat=True)
    }


def _pages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The pages of results a response holds: each of a batch's (`/api/search/batch/`
    answers `{"results": [page, ...]}`, a page being `{"results": [...], "next": ...}`),
    else the response itself."""
    results = body.get("results", [])
    pages = [r for r in results if isinstance(r.get("results"), list) and "next" in r]
    if not pages:
        return [body]
    assert len(pages) == len(results), "a batch holds pages and nothing else"
    return pages


def _batch(client: Any, searches: list[dict[str, Any]]) -> Any:
    """`/api/search/batch/` with these searches: answered, with one page for each."""
    response = client.post("/api/search/batch/", {"searches": searches}, format="json")
    assert response.status_code == 200, response.json()
    assert len(_pages(response.json())) == len(searches), response.json()
    return response


def _seen(client: Any, any_ids: list[str]) -> dict[str, set[str]]:
    """Every image id any read path hands this client, with the paths that showed it."""
    seen: dict[str, set[str]] = {}

    def saw(image_id: Any, path: str) -> None:
        assert isinstance(image_id, str), (path, image_id)
        seen.setdefault(image_id, set()).add(path)

    def collect(response: Any, path: str) -> None:
        if response.status_code != 200:
            return
        body = response.json()
        pages = _pages(body)
        for n, page in enumerate(pages):
            where = f"{path} page {n}" if page is not body else path
            for result in page.get("results", []):
                if "video" in result:
                    continue
                # A search result holds its image; a listing's item is the image.
                saw(result["image"]["id"] if "image" in result else result["id"], where)
        for group in body.get("groups", []):
            for r in group:
                saw(r["image"]["id"], path)

    def search(body: dict[str, Any]) -> None:
        collect(client.post("/api/search/", body, format="json"), f"/api/search/ {body}")

    collect(client.get("/api/images/?page_size=200"), "/api/images/")
    search({"query": "a shape", "limit": 100, "facets": True})
    search({"query": ["red", "circle"], "negative": ["blue"], "limit": 100})
    query = upload_file(image_bytes(picture(PALETTE[0])))
    collect(
        client.post("/api/search/image/", {"file": query, "limit": 100}, format="multipart"),
        "/api/search/image/",
    )
    batch = [
        {"query": "x", "limit": 100},
        {"query": "holiday", "mode": "text", "limit": 100},
        {"query": "lisbon", "mode": "hybrid", "limit": 100},
    ]
    collect(_batch(client, batch), "/api/search/batch/")
    for mode in ("text", "hybrid"):
        for words in ("holiday photo", '"beach photo"', "lisbon"):
            search({"query": words, "mode": mode, "limit": 100, "facets": True})
    collect(client.get("/api/duplicates/"), "/api/duplicates/")
    for image_id in any_ids:
        detail = client.get(f"/api/images/{image_id}/")
        if detail.status_code == 200:
            saw(detail.json()["id"], "/api/images/{id}/")
        for path in ("file/", "thumbnail/"):
            if client.get(f"/api/images/{image_id}/{path}").status_code == 200:
                saw(image_id, f"/api/images/{{id}}/{path}")
        collect(client.get(f"/api/images/{image_id}/similar/?top_k=100"), "similar")
        collect(client.get(f"/api/images/{image_id}/duplicates/"), "duplicates")
        by_id = client.post("/api/search/", {"image_id": image_id, "limit": 100}, format="json")
        if by_id.status_code == 200:
            saw(image_id, "search by image_id")  # searching by an image reveals it exists
            collect(by_id, "search by image_id")
        pair = [{"image_id": image_id, "limit": 100}, {"query": "a shape", "limit": 100}]
        if by_id.status_code == 200:
            collect(_batch(client, pair), "/api/search/batch/ by image_id")
        else:
            # Not the viewer's to search by: a batch refuses it as a single search does.
            refused = client.post("/api/search/batch/", {"searches": pair}, format="json")
            assert refused.status_code == by_id.status_code, refused.json()
        classify = client.post(
            "/api/classify/", {"labels": ["a", "b"], "image_id": image_id}, format="json"
        )
        if classify.status_code == 200:
            saw(image_id, "/api/classify/")
    return seen


def _batched(seen: dict[str, set[str]]) -> set[str]:
    """The ids among `seen` that a page of a batch search showed."""
    batch = "/api/search/batch/"
    return {i for i, paths in seen.items() if any(p.startswith(batch) for p in paths)}


def _told_where(client: Any) -> set[str]:
    """Ids of the images whose place this client learns: shown in a result, or matched
    by a place filter or the place's name."""
    told: set[str] = set()
    for mode in ("semantic", "hybrid", "text"):
        for flt in [None, *PLACE_FILTERS]:
            body = client.post(
                "/api/search/",
                {"query": "lisbon", "mode": mode, "limit": 100, "filters": flt},
                format="json",
            ).json()
            for result in body["results"]:
                image = result["image"]
                if image["place"] is not None or image["location"] is not None:
                    told.add(image["id"])
                if flt is not None or "text" in result["matched"]:
                    told.add(image["id"])
    listed = client.get("/api/images/?page_size=200").json()["results"]
    told.update(i["id"] for i in listed if i["place"] is not None or i["location"] is not None)
    return told


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=plans, viewer_index=st.integers(0, 2))
def test_no_query_returns_another_users_private_image(
    upload: Any, plan: Any, viewer_index: int
) -> None:
    users = [make_user(f"u{i}-{uuid.uuid4().hex[:8]}") for i in range(3)]
    clients = [api_client(u) for u in users]
    ids = []
    for owner, visibility, look, shared in plan:
        response = upload(clients[owner], _photo(look), WORDS_NAME, visibility=visibility)
        assert response.status_code == 201, response.json()
        ids.append(response.json()["id"])
        if shared:
            clients[owner].patch(
                f"/api/images/{ids[-1]}/", {"location_shared": True}, format="json"
            )
    viewer = users[viewer_index]

    seen = _seen(clients[viewer_index], ids)

    forbidden = _forbidden_for(viewer)
    leaked = {i: paths for i, paths in seen.items() if i in forbidden}
    assert not leaked, leaked
    # And the viewer does see what they may: their own images and public ones.
    allowed = {
        i
        for i, (owner, visibility, _, _) in zip(ids, plan, strict=True)
        if owner == viewer_index or visibility == "public"
    }
    assert allowed <= seen.keys()
    # The batch read alone finds them too: its pages are read, not taken for results.
    assert allowed <= _batched(seen)
    # Where a photo was taken: the viewer's own, and the shared among those they may see.
    told = _told_where(clients[viewer_index])
    # Over every image in the database: earlier examples' images are there too.
    may_know = {
        str(pk)
        for pk in Image.objects.visible_to(viewer)
        .filter(Q(owner=viewer) | Q(location_shared=True))
        .values_list("pk", flat=True)
    }
    assert told <= may_know
    assert {i for i, (owner, *_) in zip(ids, plan, strict=True) if owner == viewer_index} <= told


# Each image: (owner, visibility at upload, visibility set during the switch, look, when
# it is uploaded: before the switch or while the new model's index is building).
switch_plans = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["private", "public"]),
        st.sampled_from(["private", "public"]),
        st.integers(0, 17),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda p: p[3],
)


@pytest.fixture(scope="module")
def second_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return second_model(tmp_path_factory.mktemp("second-clip"))


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=switch_plans, viewer_index=st.integers(0, 2))
def test_no_query_returns_another_users_private_image_after_a_model_switch(
    upload: Any, plan: Any, viewer_index: int, second_clip: Path
) -> None:
    users = [make_user(f"s{i}-{uuid.uuid4().hex[:8]}") for i in range(3)]
    clients = [api_client(u) for u in users]
    first_model = django_settings.CLIP_MODEL
    ids = []
    try:
        for during_switch in (False, True):
            if during_switch:
                django_settings.CLIP_MODEL = str(second_clip)
            for owner, visibility, later, look, late in plan:
                if late != during_switch:
                    continue
                data = image_bytes(picture(PALETTE[look % 6], shape=SHAPES[look // 6]))
                response = upload(clients[owner], data, visibility=visibility)
                assert response.status_code == 201, response.json()
                ids.append((response.json()["id"], owner, later))
        # Owners change their minds while the new index is building...
        for image_id, owner, later in ids:
            clients[owner].patch(f"/api/images/{image_id}/", {"visibility": later}, format="json")
        # ...then search switches to it.
        call_command("reindex", stdout=io.StringIO(), stderr=io.StringIO())
        assert VectorIndex.objects.get(state="active").model_name == str(second_clip)

        viewer = users[viewer_index]
        seen = _seen(clients[viewer_index], [image_id for image_id, _, _ in ids])

        forbidden = _forbidden_for(viewer)
        leaked = {i: paths for i, paths in seen.items() if i in forbidden}
        assert not leaked, leaked
        # Search hydrates through the rows, so a stale payload would not show above:
        # check that every collection holding an image agrees with its row.
        store = get_store()
        for image in Image.objects.filter(pk__in=[i for i, _, _ in ids]):
            for collection in store.collections():
                held = store.count(collection, Filter(must=(HasId((image.pk,)),)))
                agree = Filter(must=(HasId((image.pk,)), Match("visibility", image.visibility)))
                assert store.count(collection, agree) == held, (collection, image.visibility)
        allowed = {
            str(image.pk)
            for image in Image.objects.filter(pk__in=[i for i, _, _ in ids])
            if image.owner_id == viewer.pk or image.visibility == "public"
        }
        assert allowed <= seen.keys()
        assert allowed <= _batched(seen)
    finally:
        django_settings.CLIP_MODEL = first_model
        reset_encoder()
        VectorIndex.objects.all().delete()


def test_other_users_cannot_change_or_delete(upload: Any) -> None:
    owner, other = make_user("owner"), make_user("other")
    image_id = upload(api_client(owner), image_bytes(picture())).json()["id"]
    public_id = upload(
        api_client(owner), image_bytes(picture((0, 0, 0))), visibility="public"
    ).json()["id"]
    client = api_client(other)

    for target in (image_id, public_id):
        assert (
            client.patch(
                f"/api/images/{target}/", {"visibility": "public"}, format="json"
            ).status_code
            == 404
        )
        assert client.delete(f"/api/images/{target}/").status_code == 404
        assert client.post(f"/api/images/{target}/reindex/").status_code == 404
    assert Image.objects.filter(pk__in=[image_id, public_id]).count() == 2
    assert Image.objects.get(pk=image_id).visibility == "private"


# Videos. The pool's films, each two demo-world scenes (shape, colour) of SCENE_SECONDS:
# short and small, rendered once for the module and uploaded again in every example.
FILMS = [
    (("circle", "blue"), ("star", "green")),
    (("square", "yellow"), ("cross", "purple")),
    (("diamond", "orange"), ("circle", "white")),
    (("triangle", "red"), ("square", "blue")),
]
SCENE_SECONDS = 1.5
# The last film's first scene crosses this concept: screening flags every upload of it.
FLAGGED_FILM = 3
CONCEPTS = {"a red triangle": 0.2}
VIDEO_QUERIES = ["a large blue circle", "a large purple cross", "a shape"]
HIDDEN = {Image.Moderation.FLAGGED, Image.Moderation.REJECTED}

# Each video: (owner, film, visibility at upload, a staff rejection: none, made while it
# waits for its worker, made by a review (`video_review`) once it is indexed and before
# its owner acts, or made behind the store's back after that, and what its owner does
# once it is indexed). Different owners may upload the same film.
video_plans = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, len(FILMS) - 1),
        st.sampled_from(["private", "public"]),
        st.sampled_from(["", "waiting", "reviewed", "behind"]),
        st.sampled_from([None, "private", "public", "delete"]),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda p: (p[0], p[1]),  # one owner's same bytes again are a 409
)
# A few images, to search by, steer away from and ask for similar ones: (owner, visibility).
video_image_plans = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["private", "public"])), min_size=1, max_size=3
)
MOMENT_URL = re.compile(r"/api/videos/([0-9a-f-]{36})/moments/([0-9a-f-]{36})/thumbnail/")
VIDEO_LINK = re.compile(r'href="/videos/([0-9a-f-]{36})/')


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("films")
    rng = random.Random(17)
    rendered = []
    for n, scenes in enumerate(FILMS):
        shots = []
        for shape, colour in scenes:
            if n == FLAGGED_FILM and shape == "triangle":
                # As the moderation test draws it: a large red triangle on a light background.
                shown = scene_picture((220, 30, 30), "triangle")
            else:
                scene = sample_scene(rng, 1, shape=shape, colour=colour, size="large")
                shown = render_pil(scene, 160, 120, rng)
            shots.append((SCENE_SECONDS, shown))
        rendered.append(render_video(folder / f"film{n}.mp4", shots, fps=8).read_bytes())
    return rendered


def _may_see(video: Video, viewer: Any) -> bool:
    """Who may see a video, written out here rather than read from `visible_to`."""
    return video.owner_id == viewer.pk or (
        video.visibility == "public" and video.moderation not in HIDDEN
    )


class _Reads:
    """What every read path hands one client: video ids, and (video, point) of each moment."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.videos: set[str] = set()
        self.found: set[str] = set()  # by a search, not by a listing or an id
        self.moments: set[tuple[str, str]] = set()
        self.facet_videos = 0

    def collect(self, response: Any, *, searched: bool = True) -> dict[str, Any]:
        if response.status_code != 200:
            return {}
        body: dict[str, Any] = response.json()
        for page in _pages(body):
            self.facet_videos = max(
                self.facet_videos, (page.get("facets") or {}).get("kind", {}).get("video", 0)
            )
            for result in page.get("results", []):
                if "video" in result:
                    video_id = result["video"]["id"]
                    self.videos.add(video_id)
                    if searched:
                        self.found.add(video_id)
                    for moment in result["moments"]:
                        named = MOMENT_URL.search(moment["thumbnail_url"])
                        assert named is not None, moment
                        # A moment shown under its own video, and no other.
                        assert named.group(1) == video_id
                        self.moments.add((named.group(1), named.group(2)))
                elif "image" not in result:
                    self.videos.add(result["id"])  # the video listing
        return body

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.collect(self.client.post("/api/search/", body, format="json"))

    def paged(self, body: dict[str, Any]) -> None:
        """Every page of a query, following its cursors: no video on two pages."""
        on_pages: list[str] = []
        page = self.search(body)
        while True:
            on_pages += [r["video"]["id"] for r in page.get("results", []) if "video" in r]
            if not page.get("next"):
                break
            page = self.search({**body, "cursor": page["next"]})
        assert len(on_pages) == len(set(on_pages))


def _video_reads(client: Any, image_ids: list[str], video_ids: list[str]) -> _Reads:
    reads = _Reads(client)
    reads.collect(client.get("/api/videos/?page_size=200"), searched=False)
    for words in VIDEO_QUERIES:
        for mode in ("semantic", "hybrid", "text"):
            reads.search({"query": words, "mode": mode, "limit": 100, "facets": True})
    reads.search({"query": ["a shape", "a circle"], "negative": ["blue"], "limit": 100})
    reads.search({"query": "a shape", "negative": "a star", "mode": "hybrid", "limit": 100})
    frame = upload_file(image_bytes(scene_picture((30, 60, 220), "circle")))
    reads.collect(
        client.post("/api/search/image/", {"file": frame, "limit": 100}, format="multipart")
    )
    reads.collect(_batch(client, [{"query": q, "limit": 100} for q in VIDEO_QUERIES[:2]]))
    for body in ({"query": "a shape", "limit": 3}, {"query": "a circle", "mode": "hybrid"}):
        reads.paged({"limit": 3, **body})
    for image_id in image_ids:
        reads.search({"image_id": image_id, "limit": 100, "facets": True})
        reads.search({"image_id": image_id, "query": "a star", "mode": "hybrid", "limit": 100})
        reads.search({"query": "a shape", "negative_image_ids": [image_id], "limit": 100})
        reads.collect(client.get(f"/api/images/{image_id}/similar/?top_k=100"))
    page = client.get("/search/", {"q": "a shape", "mode": "semantic"})
    if page.status_code == 200:
        found = set(VIDEO_LINK.findall(page.content.decode()))
        reads.videos |= found
        reads.found |= found
    for video_id in video_ids:
        for path in ("", "file/", "poster/"):
            if client.get(f"/api/videos/{video_id}/{path}").status_code == 200:
                reads.videos.add(video_id)
        if client.get(f"/videos/{video_id}/").status_code == 200:
            reads.videos.add(video_id)
        similar = client.get(f"/api/videos/{video_id}/similar/?t=1&top_k=100")
        if similar.status_code == 200:
            reads.videos.add(video_id)  # searching from a video reveals it exists
            reads.collect(similar)
    return reads


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=video_plans, image_plan=video_image_plans, viewer_index=st.integers(0, 2))
# Always: a public video rejected by review, then made public again by its owner, and
# another owner's public one beside it.
@example(
    plan=[(0, 0, "public", "reviewed", "public"), (1, 1, "public", "", None)],
    image_plan=[(0, "public")],
    viewer_index=1,
)
def test_no_query_returns_a_moment_of_a_video_the_user_may_not_see(
    upload: Any,
    films: list[bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
    settings: Any,
    plan: Any,
    image_plan: Any,
    viewer_index: int,
) -> None:
    settings.MODERATION_CONCEPTS = CONCEPTS
    users = [make_user(f"v{i}-{uuid.uuid4().hex[:8]}") for i in range(3)]
    clients = [api_client(u) for u in users]
    reviewer = make_user(f"staff-{uuid.uuid4().hex[:8]}", is_staff=True)
    image_ids = []
    for n, (owner, visibility) in enumerate(image_plan):
        data = image_bytes(picture(PALETTE[n % 3], shape="circle"))
        response = upload(clients[owner], data, visibility=visibility)
        assert response.status_code == 201, response.json()
        image_ids.append(response.json()["id"])
    video_ids, deleted, behind, reviewed = [], [], set(), set()
    deleted_points: list[tuple[str, str]] = []
    for owner, film, visibility, rejected, later in plan:
        with django_capture_on_commit_callbacks() as callbacks:
            response = clients[owner].post(
                "/api/videos/",
                {"file": upload_file(films[film], "film.mp4"), "visibility": visibility},
                format="multipart",
            )
        assert response.status_code == 201, response.json()
        video_id = response.json()["id"]
        video_ids.append(video_id)
        if rejected == "waiting":
            # Staff reject it (its row, as a review writes it) before its worker runs: the
            # worker reads the row under its lock, and every moment it writes is hidden.
            Video.objects.filter(pk=video_id).update(moderation=Image.Moderation.REJECTED)
        with django_capture_on_commit_callbacks(execute=True):
            for callback in callbacks:
                callback()
        video = Video.objects.get(pk=video_id)
        assert (video.status, video.moments_indexed > 0) == ("indexed", True)
        assert (video.moderation in HIDDEN) == (rejected == "waiting" or film == FLAGGED_FILM)
        if rejected == "reviewed":
            # Staff reject it as the admin does: the row, and every moment's `hidden`.
            video_review(video=video, decision="reject", reviewer=reviewer, reason="no")
            assert Video.objects.get(pk=video_id).moderation == Image.Moderation.REJECTED
            reviewed.add(video_id)
        if later == "delete":
            deleted_points += [
                (video_id, str(point))
                for point in VideoMoment.objects.filter(video_id=video_id).values_list(
                    "point_id", flat=True
                )
            ]
            with django_capture_on_commit_callbacks(execute=True):
                gone = clients[owner].delete(f"/api/videos/{video_id}/")
            assert gone.status_code == 204
            deleted.append(video_id)
        elif later is not None:
            changed = clients[owner].patch(
                f"/api/videos/{video_id}/", {"visibility": later}, format="json"
            )
            assert changed.status_code == 200, changed.json()
        if rejected == "behind" and later != "delete":
            # A decision the store never heard of: only the rows know. Search must still
            # hide the video, as it loads every result through them.
            Video.objects.filter(pk=video_id).update(moderation=Image.Moderation.REJECTED)
            behind.add(video_id)
    viewer, client = users[viewer_index], clients[viewer_index]
    # Nobody changes or deletes another user's video: a 404, and the row stays as it was.
    for video in Video.objects.filter(pk__in=video_ids).exclude(owner_id=viewer.pk):
        before = (video.visibility, video.moments_indexed)
        url = f"/api/videos/{video.pk}/"
        assert client.patch(url, {"visibility": "public"}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
        assert client.post(f"{url}reindex/").status_code == 404
        video.refresh_from_db()
        assert (video.visibility, video.moments_indexed) == before

    reads = _video_reads(client, image_ids, video_ids)

    # Over every video in the database: earlier examples' videos are there too.
    everything = list(Video.objects.all())
    allowed = {str(v.pk) for v in everything if _may_see(v, viewer)}
    assert reads.videos <= allowed
    assert not reads.videos & set(deleted)
    points = {
        (str(video_id), str(point))
        for video_id, point in VideoMoment.objects.filter(
            video_id__in=[v.pk for v in everything if _may_see(v, viewer)]
        ).values_list("video_id", "point_id")
    }
    assert reads.moments <= points
    # Facets count what the store lets through, the rows unread: never more videos than
    # the viewer's access filter admits (checked against the rows below).
    store, collection = get_store(), search_encoder().collection_name
    admitted = [
        v
        for v in everything
        if store.count(collection, Filter(must=(access_filter(viewer), Match("video", str(v.pk)))))
    ]
    assert reads.facet_videos <= len(admitted)
    # And search finds every video the viewer may see, so the above cannot hold by
    # finding nothing.
    assert allowed <= reads.found
    # A forbidden or deleted video's moment thumbnails are a 404 by their point's id.
    hidden_points = [
        (str(m.video_id), str(m.point_id))
        for m in VideoMoment.objects.filter(video_id__in=video_ids).select_related("video")
        if not _may_see(m.video, viewer)
    ]
    for video_id, point in hidden_points + deleted_points:
        url = f"/api/videos/{video_id}/moments/{point}/thumbnail/"
        assert client.get(url).status_code == 404, url

    # The store alone, before any row is loaded: within each user's access filter, no
    # moment of this world's videos they may not see (but those rejected behind its
    # back), and no point of a deleted video at all.
    for user in users:
        for video in Video.objects.filter(pk__in=video_ids):
            scope = Filter(must=(access_filter(user), Match("video", str(video.pk))))
            shown = store.count(collection, scope)
            if _may_see(video, user):
                assert shown == video.moments_indexed
            elif str(video.pk) not in behind:
                assert shown == 0, (video.pk, video.visibility, video.moderation)
    for video_id in deleted:
        assert store.count(collection, Filter(must=(Match("video", video_id),))) == 0
    # A review reached every moment's point, whatever its owner did afterwards: each one
    # is hidden in the store itself, not only in the access filter's sum.
    for video in Video.objects.filter(pk__in=reviewed - set(deleted)):
        points = Filter(must=(Match("video", str(video.pk)),))
        hidden = Filter(must=(Match("video", str(video.pk)), Match("hidden", 1)))
        assert store.count(collection, hidden) == store.count(collection, points)
        assert store.count(collection, points) == video.moments_indexed > 0
