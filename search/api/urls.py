from __future__ import annotations

from django.urls import path

from search.api.views import (
    BatchSearchApi,
    ClassifyApi,
    DuplicateGroupsApi,
    FeedbackApi,
    ImageDuplicatesApi,
    ImageSearchApi,
    ModerationQueueApi,
    ModerationReviewApi,
    SearchApi,
    SimilarImagesApi,
    VideoSimilarApi,
)

urlpatterns = [
    path("search/", SearchApi.as_view(), name="search"),
    path("search/image/", ImageSearchApi.as_view(), name="search-image"),
    path("search/batch/", BatchSearchApi.as_view(), name="search-batch"),
    path("search/feedback/", FeedbackApi.as_view(), name="search-feedback"),
    path("classify/", ClassifyApi.as_view(), name="classify"),
    path("duplicates/", DuplicateGroupsApi.as_view(), name="duplicates"),
    path("images/<uuid:id>/similar/", SimilarImagesApi.as_view(), name="image-similar"),
    path("videos/<uuid:id>/similar/", VideoSimilarApi.as_view(), name="video-similar"),
    path("images/<uuid:id>/duplicates/", ImageDuplicatesApi.as_view(), name="image-duplicates"),
    path("moderation/", ModerationQueueApi.as_view(), name="moderation-queue"),
    path("moderation/<uuid:pk>/", ModerationReviewApi.as_view(), name="moderation-review"),
]
