"""A model switch: every image and video re-encoded into the new model's collection, then search
moves to it (`manage.py reindex` after `CLIP_MODEL` changes).

Nothing here encodes or writes a point: images go through the one image path
(`gallery.indexing.images_index`), videos through the one video path
(`gallery.videoindexing.video_index`), here or on the workers. Both write to
every collection in `index_encoders()`, so the collection search reads stays
whole until the switch. Progress is counted in pictures to encode: an image
is one, a video its moments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum, Value
from django.db.models.functions import Greatest

from core.iterables import batched
from encoder import ClipEncoder, get_encoder
from gallery.indexes import index_activate, index_for
from gallery.indexing import image_enqueue, images_index
from gallery.models import Image, VectorIndex, Video
from gallery.videoindexing import video_enqueue, video_index, video_point_ids
from vectorstore import Filter, HasId, VectorStore, get_store


@dataclass
class ReindexPlan:
    """A reindex in progress: the index being built, and what it took to fill it.

    `total` is in pictures (an image, or a video's moment); the other counts
    are of images and videos.
    """

    index: VectorIndex
    total: int
    queued: int = 0
    encoded: int = 0
    videos_queued: int = 0
    videos_encoded: int = 0
    failed: int = 0  # images and videos


def reindex_start(
    *,
    batch_size: int = 256,
    in_process: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReindexPlan:
    """Index every image and video with `CLIP_MODEL` into its own collection.

    Images already in the new collection, indexed by its model, are skipped,
    and so are videos whose every moment is; so an interrupted reindex
    resumes (a video from its first moment the new collection lacks, see
    `video_index`). With a broker (and not `in_process`) each image and video
    is queued for the workers, and `reindex_progress` tells when they are
    done; without one, image batches run here through the decode pipeline,
    then the videos one by one, and the index is activated when every image
    and video made it (`reindex_finish`). Search keeps reading the active
    collection until then; new uploads go to both. `progress` is called with
    the pictures each step covered. Raises `EncoderUnavailable` or
    `VectorStoreUnavailable` (in process: what is stored stays; run again).
    """
    encoder = get_encoder()
    store = get_store()
    index = index_for(encoder)
    store.ensure_collection(encoder.collection_name, encoder.dim)
    if in_process is None:
        in_process = settings.CELERY_TASK_ALWAYS_EAGER
    plan = ReindexPlan(index=index, total=reindex_total())
    for batch in batched(Image.objects.order_by("pk").iterator(chunk_size=2000), batch_size):
        done = store.retrieve_vectors(encoder.collection_name, [i.pk for i in batch])
        todo = [i for i in batch if not (i.pk in done and i.model_id == encoder.model_id)]
        if in_process and todo:
            outcome = images_index(images=todo)
            if outcome.retry:
                raise next(iter(outcome.retry.values()))
            plan.encoded += len(outcome.indexed)
        elif todo:
            for image in todo:
                if image.status == Image.Status.FAILED:
                    image.mark_pending()  # so that its outcome can be told from the old one
                image_enqueue(image_id=str(image.pk))
            plan.queued += len(todo)
        if progress:
            progress(len(batch))
    for video in Video.objects.order_by("pk").iterator(chunk_size=200):
        if not _video_done(video, encoder, store):
            if in_process:
                row = video_index(video_id=str(video.pk))
                if row is not None and row.status == Video.Status.INDEXED:
                    plan.videos_encoded += 1
            else:
                if video.status == Video.Status.FAILED or video.model_id == encoder.model_id:
                    # Pending, so that neither an old failure nor an old mark by
                    # this model (whose collection lacks some moment) reads as
                    # this reindex's outcome.
                    Video.objects.filter(pk=video.pk).update(status=Video.Status.PENDING, error="")
                video_enqueue(video_id=str(video.pk))
                plan.videos_queued += 1
        if progress:
            progress(max(1, video.moments_indexed))
    if in_process:
        reindex_finish(plan)
    return plan


def reindex_total() -> int:
    """Pictures a reindex encodes: every image, and every video's moments (at least one)."""
    moments = Video.objects.aggregate(n=Sum(Greatest("moments_indexed", Value(1))))["n"]
    return Image.objects.count() + (moments or 0)


def reindex_progress(plan: ReindexPlan) -> tuple[int, int]:
    """(pictures still to encode into `plan`'s collection, images and videos failed), from the rows.

    An image is waited for while pending or indexed by another model. A video
    is, until its model is `plan`'s and it is indexed: while it indexes, by
    its moments still to go (as its `progress` tells), at least one.
    """
    encoder = get_encoder(plan.index.model_name)
    indexed = Image.objects.filter(status=Image.Status.INDEXED)
    waiting = Image.objects.filter(status=Image.Status.PENDING).count()
    waiting += indexed.exclude(model_id=encoder.model_id).count()
    videos = (
        Video.objects.exclude(status=Video.Status.FAILED)
        .exclude(status=Video.Status.INDEXED, model_id=encoder.model_id)
        .values_list("status", "progress", "moments_indexed")
    )
    for status, share, moments in videos:
        left = max(1, moments) * (1.0 - share if status == Video.Status.INDEXING else 1.0)
        waiting += max(1, math.ceil(left))
    failed = Image.objects.filter(status=Image.Status.FAILED).count()
    failed += Video.objects.filter(status=Video.Status.FAILED).count()
    return waiting, failed


def reindex_finish(plan: ReindexPlan) -> bool:
    """Activate `plan`'s index when every image and video is in it; returns whether it was."""
    waiting, failed = reindex_progress(plan)
    plan.failed = failed
    if waiting or failed:
        return False
    index_activate(plan.index)
    return True


def _video_done(video: Video, encoder: ClipEncoder, store: VectorStore) -> bool:
    """Whether `video` is indexed by `encoder`'s model, with every moment in its collection."""
    if video.status != Video.Status.INDEXED or video.model_id != encoder.model_id:
        return False
    points = video_point_ids(video)
    held = Filter(must=(HasId(tuple(points)),))
    return not points or store.count(encoder.collection_name, held) == len(points)
