from __future__ import annotations

from rest_framework.routers import SimpleRouter

from gallery.api.views import ImageViewSet

router = SimpleRouter()
router.register("images", ImageViewSet, basename="image")

urlpatterns = router.urls
