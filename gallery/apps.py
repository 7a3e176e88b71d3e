from __future__ import annotations

from django.apps import AppConfig


class GalleryConfig(AppConfig):
    name = "gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import pillow_heif
        from django.conf import settings
        from PIL import Image

        pillow_heif.register_heif_opener()

        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        from gallery.signals import delete_user_images

        pre_delete.connect(
            delete_user_images, sender=get_user_model(), dispatch_uid="delete_user_images"
        )

        # Pillow's own bomb guard then agrees with ours: it warns past the
        # limit (which validation turns into a 400) and refuses twice that.
        Image.MAX_IMAGE_PIXELS = settings.UPLOAD_MAX_PIXELS
