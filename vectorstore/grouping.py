"""Grouped results: a query's best groups of points, each group's best hits first.

Points are grouped by `GROUP_FIELD` (an image's own id, a moment's video), so
a video's moments come back as one result beside the images. A Qdrant server
groups by itself (`query_points_groups`); the embedded engine has no grouping,
so `query_grouped` reads a window of the best points wide enough to hold the
best `limit` groups, widening it while groups are missing and points remain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from vectorstore.base import GROUP_FIELD, Hit, VectorQuery

# A grouped query in code reads at most this many points (the window starts at
# four points per asked hit and doubles while groups are missing).
WINDOW_MAX = 4096
WINDOW_PER_HIT = 4


def group_key(hit: Hit) -> str:
    """The group a point belongs to; a point written without one is its own."""
    key = (hit.payload or {}).get(GROUP_FIELD)
    return str(key) if key is not None else str(hit.id)


def grouped(hits: Sequence[Hit], *, limit: int, size: int) -> tuple[list[Hit], int]:
    """The hits of the first `limit` groups, at most `size` each, group after group (by
    each one's best hit), and how many groups `hits` held. `hits` come best first."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        members = groups.setdefault(group_key(hit), [])
        if len(members) < size:
            members.append(hit)
    kept = list(groups.values())[:limit]
    return [hit for members in kept for hit in members], len(groups)


def query_grouped(
    run: Callable[[list[VectorQuery]], list[list[Hit]]], queries: Sequence[VectorQuery]
) -> list[list[Hit]]:
    """Answer `queries` with `run`, which answers ungrouped ones in one batch: a grouped
    query (`group_size` > 0) reads a window of points and groups it, one batch per widening.

    Exact for the groups it returns: a group outside a window of the best
    points scores below every point in it.
    """
    answers: list[list[Hit]] = [[] for _ in queries]
    windows = [min(WINDOW_MAX, q.limit * q.group_size * WINDOW_PER_HIT) for q in queries]
    pending = list(range(len(queries)))
    while pending:
        plain = [
            replace(queries[i], limit=windows[i], group_size=0, with_payload=True)
            if queries[i].group_size
            else queries[i]
            for i in pending
        ]
        widen = []
        for i, hits in zip(pending, run(plain), strict=True):
            query = queries[i]
            if not query.group_size:
                answers[i] = hits
                continue
            answers[i], found = grouped(hits, limit=query.limit, size=query.group_size)
            if found < query.limit and len(hits) == windows[i] and windows[i] < WINDOW_MAX:
                windows[i] = min(WINDOW_MAX, windows[i] * 2)
                widen.append(i)
        pending = widen
    return answers
