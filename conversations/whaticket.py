"""The Whaticket client: sends replies, logs in for JWT mode, classifies errors.

Nothing else in the project knows a Whaticket URL or field name of a send. Errors become
our own exceptions: transient (retry with backoff), permanent (the number is bad: never
retry), config (credentials or setup: alert the clinic).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from secretaria.redis import get_redis

log = logging.getLogger(__name__)
_session = requests.Session()
_session.trust_env = True

PERMANENT_ERRORS = {
    "Invalid number format. Only numbers is allowed.",
    "ERR_WAPP_INVALID_CONTACT",
    "ERR_CHECK_NUMBER",
}
TRANSIENT_ERRORS = {
    "ERR_WAPP_NOT_INITIALIZED",
    "ERR_WAPP_CHECK_CONTACT",
    "ERR_INVALID_NUMBER",
    "ERR_SENDING_WAPP_MSG",
    "Não foi possível enviar a mensagem, tente novamente em alguns instantes",
    "Internal server error",
    "ERR_INTERNAL_ERROR",
}
CONFIG_ERRORS = {"ERR_SESSION_EXPIRED", "ERR_NO_DEF_WAPP_FOUND", "ERR_WHATSAPP_NOT_FOUND", "Acesso não permitido"}


class WhaticketError(Exception):
    """A send that did not go through. `detail` is safe to show to clinic staff."""

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class TransientError(WhaticketError):
    """Try again later (dropped session, 5xx, rate limit, proxy error)."""

    def __init__(self, *args, ambiguous: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # A timeout may have been delivered: retry it at most once.
        self.ambiguous = ambiguous


class PermanentError(WhaticketError):
    """Never retry: the number has no WhatsApp or is malformed."""


class ConfigError(WhaticketError):
    """Credentials or setup are wrong: retrying will not help until staff fix it."""


class NotConfigured(ConfigError):
    """The clinic has no Whaticket: replies are stored and shown, not sent."""


@dataclass(frozen=True)
class WhaticketConfig:
    api_url: str
    bearer_token: str = ""
    jwt_email: str = ""
    jwt_password: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.api_url and (self.bearer_token or (self.jwt_email and self.jwt_password)))

    @property
    def can_send_proactively(self) -> bool:
        """Reminders and follow-ups need the connection token: JWT mode answers inside tickets only."""
        return bool(self.api_url and self.bearer_token)

    @property
    def connection_key(self) -> str:
        """Identifies the WhatsApp connection (for pacing and the JWT cache) without the secret."""
        digest = hashlib.sha256(f"{self.api_url}|{self.bearer_token}|{self.jwt_email}".encode()).hexdigest()
        return digest[:16]


def _base(config: WhaticketConfig) -> str:
    return config.api_url.rstrip("/")


def _error_string(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or "")[:200]
    return ""


def classify(response: requests.Response) -> WhaticketError | None:
    """None when accepted; otherwise the exception that says what to do."""
    status = response.status_code
    if 200 <= status < 300:
        # whapiv4 answers 200 {"error": <the stored message>} on success (sic): still a success.
        return None
    error = _error_string(response)
    content_type = response.headers.get("Content-Type", "")
    if status == 429:
        retry_after = response.headers.get("Retry-After", "")
        delay = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
        return TransientError(f"HTTP 429: {error or 'rate limited'}", status=status, retry_after=delay)
    if status in (401, 403) or error in CONFIG_ERRORS or error.startswith(("Invalid token", "Essa empresa não tem")):
        return ConfigError(f"HTTP {status}: {error or 'unauthorised'}", status=status)
    if error in PERMANENT_ERRORS:
        return PermanentError(f"HTTP {status}: {error}", status=status)
    if error in TRANSIENT_ERRORS or status >= 500 or "json" not in content_type:
        return TransientError(f"HTTP {status}: {error or 'server error'}", status=status)
    # An unknown 4xx with a JSON body: do not retry forever.
    return PermanentError(f"HTTP {status}: {error or 'rejected'}", status=status)


def _post(url: str, *, headers: dict, payload: dict) -> requests.Response:
    try:
        return _session.post(
            url, json=payload, headers=headers, timeout=settings.WHATICKET_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.Timeout as exc:
        raise TransientError("timeout", ambiguous=True) from exc
    except requests.RequestException as exc:
        raise TransientError(f"connection error: {type(exc).__name__}") from exc


def safe_body(text: str) -> str:
    # Whaticket renders bodies through Mustache: "{{" must never reach it.
    return text.replace("{{", "{ {").replace("}}", "} }")


# --- JWT mode ---------------------------------------------------------------------------------


def _jwt_cache_key(config: WhaticketConfig) -> str:
    return f"secretaria:whaticket:jwt:{config.connection_key}"


def _jwt_expiry(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, ValueError, TypeError):
        return None


def login(config: WhaticketConfig) -> str:
    response = _post(
        f"{_base(config)}/auth/login",
        headers={},
        payload={"email": config.jwt_email, "password": config.jwt_password},
    )
    if response.status_code != 200:
        error = _error_string(response)
        if response.status_code >= 500:
            raise TransientError(f"login HTTP {response.status_code}: {error}", status=response.status_code)
        raise ConfigError(f"login HTTP {response.status_code}: {error or 'refused'}", status=response.status_code)
    try:
        token = response.json()["token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TransientError("login answered without a token") from exc
    expires = _jwt_expiry(token)
    ttl = int(expires - time.time() - 60) if expires else 600
    if ttl > 0:
        get_redis().set(_jwt_cache_key(config), token, ex=ttl)
    return token


def _jwt(config: WhaticketConfig, *, fresh: bool = False) -> str:
    if not fresh:
        cached = get_redis().get(_jwt_cache_key(config))
        if cached:
            return cached.decode()
    return login(config)


def _send_in_ticket(config: WhaticketConfig, *, ticket_id: str, body: str) -> None:
    url = f"{_base(config)}/messages/{ticket_id}"
    response = _post(url, headers={"Authorization": f"Bearer {_jwt(config)}"}, payload={"body": body})
    if response.status_code in (401, 403):
        get_redis().delete(_jwt_cache_key(config))
        response = _post(url, headers={"Authorization": f"Bearer {_jwt(config, fresh=True)}"}, payload={"body": body})
    error = classify(response)
    if error:
        raise error


# --- sending ----------------------------------------------------------------------------------


def send_text(config: WhaticketConfig, *, number: str, body: str, ticket_id: str = "") -> None:
    """Send `body` to `number` (digits). Raises a WhaticketError subclass when it did not go through."""
    if not config.configured:
        raise NotConfigured("Whaticket não configurado para esta clínica")
    body = safe_body(body)
    if config.bearer_token:
        response = _post(
            f"{_base(config)}/api/messages/send",
            headers={"Authorization": f"Bearer {config.bearer_token}"},
            payload={"number": str(number), "body": body},
        )
        error = classify(response)
        if error:
            raise error
        return
    if not ticket_id:
        raise ConfigError(
            "no modo JWT só é possível responder dentro de um ticket; configure o token da conexão para enviar"
        )
    _send_in_ticket(config, ticket_id=ticket_id, body=body)


def _jwt_get(config: WhaticketConfig, path: str, params: dict | None = None):
    url = f"{_base(config)}{path}"
    response = _session.get(
        url,
        params=params,
        headers={"Authorization": f"Bearer {_jwt(config)}"},
        timeout=settings.REQUEST_TIMEOUT_SECONDS,
    )
    if response.status_code in (401, 403):
        response = _session.get(
            url,
            params=params,
            headers={"Authorization": f"Bearer {_jwt(config, fresh=True)}"},
            timeout=settings.REQUEST_TIMEOUT_SECONDS,
        )
    if response.status_code != 200:
        return None
    return response.json()


def ticket_is_held_by_person(config: WhaticketConfig, *, ticket_id: str = "", number: str = "") -> bool | None:
    """JWT mode: is the patient's ticket open with an agent? None when it cannot be known.

    Raw Baileys deliveries (variant A) carry no ticket and stop when an agent takes over, so
    before answering we look: the ticket by id, or the newest ticket of the number.
    """
    if not (config.api_url and config.jwt_email and config.jwt_password and (ticket_id or number)):
        return None
    try:
        if ticket_id:
            ticket = _jwt_get(config, f"/tickets/{ticket_id}")
        else:
            found = _jwt_get(config, "/tickets", {"searchParam": number, "showAll": "true"})
            tickets = (found or {}).get("tickets") or []
            ticket = max(tickets, key=lambda t: t.get("id") or 0) if tickets else None
    except (requests.RequestException, ValueError, WhaticketError):
        return None
    if not isinstance(ticket, dict):
        return None
    return ticket.get("status") == "open" and bool(ticket.get("userId"))
