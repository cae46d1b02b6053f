"""Per-clinic API keys for the appointments API: shown once, stored as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from agenda.models import ApiKey

PREFIX = "sv"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """A new key for the current clinic; the plain key is returned once and never stored."""
    prefix = secrets.token_hex(4)
    key = f"{PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return ApiKey.objects.create(name=name.strip()[:120] or "API", prefix=prefix, key_hash=_hash(key)), key


class ApiClient:
    """Who a valid key authenticates: the clinic's integration, not a person."""

    is_authenticated = True
    is_staff = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer sv_...` or `X-Api-Key: sv_...`, checked in the clinic's own schema."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-Api-Key", "")
        if not key:
            return None
        parts = key.split("_")
        if len(parts) < 3 or parts[0] != PREFIX:
            raise exceptions.AuthenticationFailed("Chave de API inválida.")
        api_key = ApiKey.objects.filter(prefix=parts[1], revoked=False).first()
        if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(key)):
            raise exceptions.AuthenticationFailed("Chave de API inválida.")
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
        return ApiClient(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the key in the OpenAPI document (Bearer, or the X-Api-Key header)."""

    target_class = "agenda.apikeys.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Chave de API da clínica (sv_...), ou X-Api-Key."}
