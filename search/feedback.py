"""Feedback on search results: explicit marks (relevant or not) and opens, per result shown.

A mark or an open names the search by its `query_id` (search.queryids), which
says what the page showed and at which rank; nothing else is kept per query.
Rows belong to their user (deleted with them) and are pruned after
`FEEDBACK_RETENTION_DAYS`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from core.errors import ApplicationError
from search.models import Feedback
from search.queryids import IMAGE, VIDEO, QueryId, query_id_loads

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser


def feedback_record(
    *,
    user: User,
    query_id: str,
    image_id: UUID | None = None,
    video_id: UUID | None = None,
    relevant: bool | None = None,
    opened: bool = False,
) -> Feedback:
    """Record a mark (`relevant`) and/or an open of one result of the search `query_id`.

    Idempotent per user, query, collection and item: a repeat updates the one
    row. A mark replaces the previous mark; an open is kept once recorded, and
    neither touches the other. Raises `ApplicationError`: 400 `item_required`
    (neither or both of image_id and video_id), `nothing_to_record`,
    `invalid_query_id` / `expired_query_id`, `unknown_result` (the search did not
    show that item); 404 `not_found` for another user's query id.
    """
    items = [(k, i) for k, i in ((IMAGE, image_id), (VIDEO, video_id)) if i is not None]
    if len(items) != 1:
        raise ApplicationError("item_required", "Give the image_id or the video_id of a result.")
    if relevant is None and not opened:
        raise ApplicationError(
            "nothing_to_record", 'Give "relevant": true or false, or "opened": true.'
        )
    user_id = _user_id(user)
    query = _own_query(user_id, query_id)
    [(kind, item_id)] = items
    shown = query.result(kind, item_id)
    if shown is None:
        raise ApplicationError(
            "unknown_result",
            f"That {kind} was not a result of this search.",
            detail={kind: str(item_id)},
        )
    changes: dict[str, object] = {"rank": shown.rank, "mode": query.mode}
    if relevant is not None:
        changes["relevant"] = relevant
    if opened:
        changes["opened"] = True
    # update_or_create retries a lost race on the unique constraint as an update.
    row, _ = Feedback.objects.update_or_create(
        user_id=user_id,
        query=query.fingerprint,
        collection=query.collection,
        kind=kind,
        item_id=item_id,
        defaults=changes,
    )
    return row


def feedback_delete(*, user: User, query_id: str | None = None) -> int:
    """Delete `user`'s feedback: all of it, or that on one search (`query_id`, any of its
    pages). Returns how many rows went. Raises as `feedback_record` for a bad query id."""
    user_id = _user_id(user)
    rows = Feedback.objects.filter(user_id=user_id)
    if query_id is not None:
        query = _own_query(user_id, query_id)
        rows = rows.filter(query=query.fingerprint, collection=query.collection)
    deleted, _ = rows.delete()
    return deleted


def feedback_prune(*, now: datetime | None = None) -> int:
    """Delete feedback last changed more than `FEEDBACK_RETENTION_DAYS` ago. Idempotent;
    returns how many rows went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FEEDBACK_RETENTION_DAYS)
    deleted, _ = Feedback.objects.older_than(cutoff).delete()
    if deleted:
        logger.info("Pruned %d feedback rows older than %s", deleted, cutoff.isoformat())
    return deleted


def _user_id(user: User) -> int | str:
    if not user.is_authenticated or user.pk is None:
        raise ApplicationError("not_authenticated", "Sign in to give feedback.", status=401)
    return user.pk


def _own_query(user_id: int | str, query_id: str) -> QueryId:
    # Rows older than the retention are pruned: so is feedback on older searches.
    query = query_id_loads(query_id, max_age=timedelta(days=settings.FEEDBACK_RETENTION_DAYS))
    if query.user_id != str(user_id):
        # Someone else's search: as if it did not exist.
        raise ApplicationError("not_found", "No such search.", status=404)
    return query
