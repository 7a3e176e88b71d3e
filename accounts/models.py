"""API keys for scripts: long-lived, revocable, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

KEY_PREFIX = "cs_"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The first characters identify the key for lookup and display; the rest
    # is secret and kept only as a SHA-256 (the key is 190 random bits, so a
    # slow password hash would add nothing).
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # The table keeps the name it had when keys lived in `clipsite`.
        db_table = "clipsite_apikey"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: object, name: str) -> tuple[ApiKey, str]:
        """A new key for `user`. The plain key is returned once and never stored."""
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
        api_key = cls.objects.create(user=user, name=name, prefix=prefix, key_hash=cls.hash(key))
        return api_key, key

    @classmethod
    def authenticate(cls, key: str) -> ApiKey | None:
        if not key.startswith(KEY_PREFIX) or "_" not in key[len(KEY_PREFIX) :]:
            return None
        prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
        api_key = cls.objects.active().select_related("user").filter(prefix=prefix).first()
        if api_key is None or not hmac.compare_digest(api_key.key_hash, cls.hash(key)):
            return None
        if not api_key.user.is_active:
            return None
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return api_key

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
