from __future__ import annotations

import pillow_heif
from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import pre_delete
from PIL import Image


class GalleryConfig(AppConfig):
    name = "gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here because they need the app registry (models) ready.
        from django.contrib.auth import get_user_model

        from gallery.signals import delete_user_images

        pillow_heif.register_heif_opener()

        pre_delete.connect(
            delete_user_images, sender=get_user_model(), dispatch_uid="delete_user_images"
        )

        # Pillow's own bomb guard then agrees with ours: it warns past the
        # limit (which validation turns into a 400) and refuses twice that.
        Image.MAX_IMAGE_PIXELS = settings.UPLOAD_MAX_PIXELS
