"""Property: no query of any kind ever returns another user's private image, and no query
tells anyone where another user's photo was taken unless its owner shares it."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encoder import reset_encoder
from gallery.models import Image, VectorIndex
from tests.factories import api_client, image_bytes, make_user, picture, upload_file
from tests.support.models import second_model
from tests.support.photos import LISBON, camera_exif
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


def _seen(client: Any, any_ids: list[str]) -> set[str]:
    """Every image id any read path hands this client."""
    seen: set[str] = set()

    def collect(response: Any) -> None:
        if response.status_code != 200:
            return
        body = response.json()
        for result in body.get("results", []):
            seen.add(result["image"]["id"] if "image" in result else result.get("id"))
        for group in body.get("groups", []):
            seen.update(r["image"]["id"] for r in group)

    collect(client.get("/api/images/?page_size=200"))
    collect(
        client.post(
            "/api/search/", {"query": "a shape", "limit": 100, "facets": True}, format="json"
        )
    )
    collect(
        client.post(
            "/api/search/",
            {"query": ["red", "circle"], "negative": ["blue"], "limit": 100},
            format="json",
        )
    )
    query = upload_file(image_bytes(picture(PALETTE[0])))
    collect(client.post("/api/search/image/", {"file": query, "limit": 100}, format="multipart"))
    collect(
        client.post(
            "/api/search/batch/",
            {
                "searches": [
                    {"query": "x", "limit": 100},
                    {"query": "holiday", "mode": "text", "limit": 100},
                ]
            },
            format="json",
        )
    )
    for mode in ("text", "hybrid"):
        for words in ("holiday photo", '"beach photo"', "lisbon"):
            collect(
                client.post(
                    "/api/search/",
                    {"query": words, "mode": mode, "limit": 100, "facets": True},
                    format="json",
                )
            )
    collect(client.get("/api/duplicates/"))
    for image_id in any_ids:
        detail = client.get(f"/api/images/{image_id}/")
        if detail.status_code == 200:
            seen.add(detail.json()["id"])
        if client.get(f"/api/images/{image_id}/file/").status_code == 200:
            seen.add(image_id)
        if client.get(f"/api/images/{image_id}/thumbnail/").status_code == 200:
            seen.add(image_id)
        collect(client.get(f"/api/images/{image_id}/similar/?top_k=100"))
        collect(client.get(f"/api/images/{image_id}/duplicates/"))
        by_id = client.post("/api/search/", {"image_id": image_id, "limit": 100}, format="json")
        if by_id.status_code == 200:
            seen.add(image_id)  # searching by an image reveals it exists
            collect(by_id)
        classify = client.post(
            "/api/classify/", {"labels": ["a", "b"], "image_id": image_id}, format="json"
        )
        if classify.status_code == 200:
            seen.add(image_id)
    return seen


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

    assert not seen & _forbidden_for(viewer)
    # And the viewer does see what they may: their own images and public ones.
    allowed = {
        i
        for i, (owner, visibility, _, _) in zip(ids, plan, strict=True)
        if owner == viewer_index or visibility == "public"
    }
    assert allowed <= seen
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

        assert not seen & _forbidden_for(viewer)
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
        assert allowed <= seen
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
