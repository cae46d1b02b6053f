"""Who may post to our Whaticket webhook: the clinic's auth mode, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.utils import timezone

from secretaria.redis import get_redis
from tenants.models import Clinic

MAX_BODY_BYTES = 256 * 1024


class WebhookAuthError(Exception):
    """The delivery is not authenticated; the message is safe to return to the caller."""


def _equal(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _previous_still_valid(clinic: Clinic) -> bool:
    """The secret and token replaced by a rotation are accepted until the grace period ends."""
    until = clinic.webhook_previous_valid_until
    return until is not None and timezone.now() < until


def _token_matches(clinic: Clinic, given: str) -> bool:
    tokens = [clinic.webhook_token]
    if _previous_still_valid(clinic):
        tokens.append(clinic.webhook_token_previous)
    return any(_equal(given, token) for token in tokens if token)


def signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Hex HMAC-SHA256 of "{timestamp}.{raw body}": what a relay puts in X-Signature."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()


def authenticate_delivery(*, clinic: Clinic, raw_body: bytes, headers, path_token: str | None) -> None:
    mode = clinic.webhook_auth_mode
    if path_token is not None:
        if mode != Clinic.WebhookAuth.URL_TOKEN:
            raise WebhookAuthError("Esta clínica não aceita token na URL.")
        if not _token_matches(clinic, path_token):
            raise WebhookAuthError("Token inválido.")
        return
    if mode == Clinic.WebhookAuth.URL_TOKEN:
        raise WebhookAuthError("Esta clínica recebe em /webhook/whaticket/<token>.")
    if mode == Clinic.WebhookAuth.HEADER_TOKEN:
        given = headers.get("X-Webhook-Token") or headers.get("X-N8N-API-KEY") or ""
        if not _token_matches(clinic, given):
            raise WebhookAuthError("Token ausente ou inválido.")
        return
    # hmac
    timestamp = headers.get("X-Timestamp", "").strip()
    given = headers.get("X-Signature", "").strip().lower().removeprefix("sha256=")
    if not timestamp or not given:
        raise WebhookAuthError("Assinatura ausente: envie X-Timestamp e X-Signature.")
    try:
        skew = abs(time.time() - float(timestamp))
    except ValueError as exc:
        raise WebhookAuthError("X-Timestamp inválido.") from exc
    if skew > settings.WEBHOOK_MAX_SKEW_SECONDS:
        raise WebhookAuthError("X-Timestamp fora da janela permitida.")
    secrets = [clinic.webhook_secret, settings.SHARED_SECRET]
    if _previous_still_valid(clinic):
        secrets.append(clinic.webhook_secret_previous)
    secrets = [secret for secret in secrets if secret]
    if not any(_equal(given, signature(secret, timestamp, raw_body)) for secret in secrets):
        raise WebhookAuthError("Assinatura inválida.")
    if settings.WEBHOOK_TOKEN_OPTIONAL and not _equal(
        headers.get("X-Webhook-Token", ""), settings.WEBHOOK_TOKEN_OPTIONAL
    ):
        raise WebhookAuthError("X-Webhook-Token ausente ou inválido.")


def _auth_failure_key(ip: str) -> str:
    window = int(time.time() // settings.RATE_LIMIT_WINDOW_SECONDS)
    return f"secretaria:webhook:authfail:{ip}:{window}"


def record_failure(ip: str) -> int:
    """Count a failed authentication from `ip`; returns the count in the current window."""
    try:
        pipe = get_redis().pipeline()
        key = _auth_failure_key(ip)
        pipe.incr(key)
        pipe.expire(key, settings.RATE_LIMIT_WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
    except Exception:  # noqa: BLE001 - without Redis, nobody is blocked
        return 0
    return int(count)


def client_ip(request) -> str:
    if settings.USE_X_FORWARDED_PROTO:
        forwarded = request.META.get("HTTP_X_REAL_IP") or request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")
