"""The pages that show and change images; `clipsite.urls` mounts them with search's pages
in the one `gallery` namespace (the API lives under /api/, in gallery.api and search.api)."""

from __future__ import annotations

from django.urls import path

from gallery import views

urlpatterns = [
    path("", views.gallery, name="home"),
    path("upload/", views.upload, name="upload"),
    path("preferences/", views.preferences, name="preferences"),
    path("videos/<uuid:pk>/", views.video_detail, name="video"),
    path("images/<uuid:pk>/visibility/", views.image_visibility, name="image-visibility"),
    path("images/<uuid:pk>/details/", views.image_details, name="image-details"),
    path("images/<uuid:pk>/reindex/", views.image_reindex_page, name="image-reindex"),
    path("images/<uuid:pk>/delete/", views.image_delete_page, name="image-delete"),
    path("staff/status/", views.staff_status, name="staff-status"),
    path("staff/moderation/", views.moderation_queue, name="moderation"),
    path("staff/moderation/<uuid:pk>/", views.moderation_review, name="moderation-review"),
]
