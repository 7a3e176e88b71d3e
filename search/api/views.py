"""Search endpoints: by text and by an example image."""

from __future__ import annotations

from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from search.api.serializers import (
    ImageSearchSerializer,
    SearchResultSerializer,
    TextSearchSerializer,
)
from search.services import SearchResult, search_image, search_text


class SearchApi(APIView):
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:
        form = TextSearchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        results = search_text(user=request.user, **form.validated_data)
        return _render(request, results)


class ImageSearchApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def post(self, request: Request) -> Response:
        form = ImageSearchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        results = search_image(
            user=request.user, upload=data["file"], top_k=data["top_k"], filters=data.get("filters")
        )
        return _render(request, results)


def _render(request: Request, results: list[SearchResult]) -> Response:
    serializer = SearchResultSerializer(
        results,  # type: ignore[arg-type]
        many=True,
        context={"request": request},
    )
    return Response({"results": serializer.data})
