"""Re-encode every image into the configured model's collection, then switch search to it."""

from __future__ import annotations

from collections.abc import Callable

from clipsite.iterables import batched
from gallery.models import Image
from workers.encoder import get_encoder
from workers.indexes import index_activate, index_for
from workers.indexing import UnreadableImage, load_picture
from workers.models import VectorIndex
from workers.tagging import auto_tags
from workers.vectorstore import VectorPoint, get_store


def images_reindex(
    *, batch_size: int = 32, progress: Callable[[int], None] | None = None
) -> tuple[VectorIndex, int, int]:
    """Encode all images with `CLIP_MODEL` in batches; activate its index when complete.

    Search keeps reading the previously active collection until every image is
    in the new one, so it never sees a half-built index. Resumable: images
    already in the new collection are skipped. Returns (index, encoded, failed).
    """
    encoder = get_encoder()
    store = get_store()
    index = index_for(encoder)
    store.ensure_collection(encoder.collection_name, encoder.dim)
    encoded = failed = 0
    for batch in batched(Image.objects.order_by("pk").iterator(chunk_size=500), batch_size):
        done = store.retrieve_vectors(encoder.collection_name, [i.pk for i in batch])
        todo, pictures = [], []
        for image in batch:
            if image.pk in done and image.model_id == encoder.model_id:
                continue
            try:
                pictures.append(load_picture(image.file.name or ""))
                todo.append(image)
            except UnreadableImage as exc:
                image.mark_failed(error=f"The stored file cannot be read: {exc}")
                failed += 1
        if todo:
            vectors = encoder.encode_images(pictures)
            points = []
            for image, vector in zip(todo, vectors, strict=True):
                image.tags = auto_tags(encoder, vector)
                Image.objects.filter(pk=image.pk).update(tags=image.tags)
                points.append(
                    VectorPoint(id=image.pk, vector=vector, payload=image.vector_payload())
                )
            store.upsert(encoder.collection_name, points)
            for image in todo:
                image.mark_indexed(model_id=encoder.model_id)
            encoded += len(todo)
        if progress:
            progress(len(batch))
    if failed == 0:
        index_activate(index)
    return index, encoded, failed
