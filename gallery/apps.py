from __future__ import annotations

import pillow_heif
from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_delete
from PIL import Image


class GalleryConfig(AppConfig):
    name = "gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here because they need the app registry (models) ready.
        from django.contrib.auth import get_user_model

        from gallery.indexes import forget_search_index
        from gallery.models import VectorIndex
        from gallery.signals import delete_user_images

        pillow_heif.register_heif_opener()

        pre_delete.connect(
            delete_user_images, sender=get_user_model(), dispatch_uid="delete_user_images"
        )
        # Search keeps which index it reads in process memory (gallery.indexes).
        for signal in (post_save, post_delete):
            signal.connect(forget_search_index, sender=VectorIndex, dispatch_uid="forget_index")

        # Pillow's own bomb guard then agrees with ours: it warns past the
        # limit (which validation turns into a 400) and refuses twice that.
        Image.MAX_IMAGE_PIXELS = settings.UPLOAD_MAX_PIXELS
