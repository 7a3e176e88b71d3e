"""Endpoints to create, list and revoke API keys."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from core.schema import errors


class NotWithApiKey(BasePermission):
    """Keys are managed with a session or a JWT, so a leaked key cannot mint more keys."""

    message = "API keys cannot manage API keys; sign in instead."

    def has_permission(self, request: Request, view: Any) -> bool:
        return not isinstance(request.auth, ApiKey)


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=100)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="Shown once; only its hash is stored.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyListApi(APIView):
    permission_classes = [IsAuthenticated, NotWithApiKey]

    @extend_schema(
        responses={
            200: inline_serializer("ApiKeyList", {"results": ApiKeySerializer(many=True)}),
            **errors(401, 403),
        }
    )
    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.filter(user_id=int(request.user.pk or 0))
        return Response({"results": ApiKeySerializer(keys, many=True).data})

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer, **errors(400, 401, 403)},
        summary="Create a key: the key is in this response only",
    )
    def post(self, request: Request) -> Response:
        form = ApiKeyCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        api_key, key = ApiKey.issue(user=request.user, name=form.validated_data["name"])
        return Response({**ApiKeySerializer(api_key).data, "key": key}, status=201)


class ApiKeyRevokeApi(APIView):
    permission_classes = [IsAuthenticated, NotWithApiKey]

    @extend_schema(responses={204: None, **errors(401, 403, 404)}, summary="Revoke a key")
    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(
            ApiKey.objects.active(), pk=pk, user_id=int(request.user.pk or 0)
        ).revoke()
        return Response(status=204)
