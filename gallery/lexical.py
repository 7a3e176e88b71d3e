"""The text side of an image in the vector store: its lexical vector and the payload beside it.

Built from the row alone (`Image.lexical_document`), so a model switch, a
caption edit or a change of who may see the place rebuilds it without
recognising the picture again.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from gallery.models import Image
from vectorstore import LexicalPoint, SparseVector, get_store
from vectorstore.lexical import lexicon


def lexical_vector(image: Image) -> SparseVector:
    """`image`'s BM25 document vector (empty when it has no words)."""
    return lexicon(settings.LEXICAL_LANGUAGE).document(image.lexical_document())


def lexical_point(image: Image) -> LexicalPoint:
    return LexicalPoint(id=image.id, lexical=lexical_vector(image), payload=image.lexical_payload())


def images_refresh_lexical(images: Sequence[Image]) -> None:
    """Rewrite the text side of the indexed `images` in every collection that holds them.

    Raises `VectorStoreUnavailable`. An image not yet indexed gets its text
    side when it is, from the row as it is then.
    """
    indexed = [image for image in images if image.status == Image.Status.INDEXED]
    if indexed:
        get_store().set_lexical([lexical_point(image) for image in indexed])
