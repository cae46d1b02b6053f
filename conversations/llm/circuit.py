"""A circuit breaker per model endpoint, shared by every worker through Redis.

Closed: calls go through; LLM_CIRCUIT_BREAKER_THRESHOLD transient failures in a row open it.
Open: for LLM_CIRCUIT_BREAKER_RESET_SECONDS no call is made (the local engine answers).
Half-open: then exactly one worker wins the probe; its success closes the circuit, its failure
opens it again. With Redis unreachable the breaker lets calls through (and says so in the log).
"""

from __future__ import annotations

import hashlib
import logging

import redis
from django.conf import settings

from secretaria.redis import get_redis

log = logging.getLogger(__name__)
PREFIX = "secretaria:llm:circuit"
PROVIDERS = ("openai", "gemini")


def circuit_id(provider: str, base_url: str = "") -> str:
    """One circuit per provider and endpoint: a clinic's own server failing opens only its own."""
    if not base_url:
        return provider
    return f"{provider}:{hashlib.sha256(base_url.encode()).hexdigest()[:12]}"


class CircuitBreaker:
    def __init__(self, ident: str, *, threshold: int | None = None, reset_seconds: int | None = None):
        self.ident = ident
        self.threshold = max(1, threshold or settings.LLM_CIRCUIT_BREAKER_THRESHOLD)
        self.reset_seconds = max(1, reset_seconds or settings.LLM_CIRCUIT_BREAKER_RESET_SECONDS)
        self._holds_probe = False

    def _key(self, part: str) -> str:
        return f"{PREFIX}:{self.ident}:{part}"

    def allow(self) -> bool:
        """May this worker call the provider now? (Claims the half-open probe when it is due.)"""
        try:
            r = get_redis()
            if r.exists(self._key("open")):
                return False
            if not r.exists(self._key("tripped")):
                return True
            probe_ttl = int(settings.LLM_TIMEOUT_SECONDS * (settings.LLM_RETRY_ATTEMPTS + 1)) + 10
            self._holds_probe = bool(r.set(self._key("probe"), "1", nx=True, ex=probe_ttl))
            return self._holds_probe
        except redis.RedisError as exc:
            log.warning("llm circuit %s: Redis unavailable (%s), letting the call through", self.ident, exc)
            return True

    def record_success(self) -> None:
        try:
            r = get_redis()
            if self._holds_probe or r.exists(self._key("tripped")):
                log.info("llm circuit %s closed", self.ident)
            r.delete(self._key("failures"), self._key("tripped"), self._key("open"), self._key("probe"))
        except redis.RedisError:
            pass
        self._holds_probe = False

    def record_failure(self) -> None:
        try:
            r = get_redis()
            if self._holds_probe or r.exists(self._key("tripped")):
                self._open(r, "probe failed")
                return
            pipe = r.pipeline()
            pipe.incr(self._key("failures"))
            pipe.expire(self._key("failures"), self.reset_seconds * 10)
            failures, _ = pipe.execute()
            if failures >= self.threshold:
                self._open(r, f"{failures} failures in a row")
        except redis.RedisError:
            pass
        finally:
            self._holds_probe = False

    def _open(self, r, why: str) -> None:
        pipe = r.pipeline()
        pipe.set(self._key("open"), "1", ex=self.reset_seconds)
        pipe.set(self._key("tripped"), "1", ex=86400)
        pipe.delete(self._key("probe"), self._key("failures"))
        pipe.execute()
        log.warning("llm circuit %s open for %s s: %s", self.ident, self.reset_seconds, why)


def circuits_open(connection: redis.Redis | None = None) -> dict[str, int]:
    """{provider: 1 when any of its circuits is open or half-open, else 0}, for /metrics."""
    state = dict.fromkeys(PROVIDERS, 0)
    for key in (connection or get_redis()).scan_iter(match=f"{PREFIX}:*:tripped", count=500):
        ident = (key.decode() if isinstance(key, bytes) else key)[len(PREFIX) + 1 :].rsplit(":tripped", 1)[0]
        state[ident.split(":", 1)[0]] = 1
    return state
