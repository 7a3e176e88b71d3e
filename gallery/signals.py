"""Deleting a user deletes their images everywhere: rows, files and vectors."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from gallery.models import Image
from gallery.services import delete_stored_files
from vectorstore import get_store


def delete_user_images(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Before a user row goes (from anywhere: admin, shell, a service), remove their vectors
    and, once the deletion commits, their files. The rows go by the foreign key's cascade.

    If the vector store cannot be reached this raises, and the user is not deleted.
    """
    images = list(Image.objects.filter(owner_id=instance.pk).values_list("pk", "file", "thumbnail"))
    if not images:
        return
    get_store().delete([pk for pk, _, _ in images])
    names = [name for _, *files in images for name in files if name]
    transaction.on_commit(lambda: delete_stored_files(names))
