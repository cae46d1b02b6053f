"""Pooled Redis clients (never one connection per request)."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    """The shared client for product data (rate limits, locks, caches, heartbeats)."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
    )


@cache
def get_probe_redis() -> redis.Redis:
    """A client with a short deadline, for health checks."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1, retry_on_timeout=False)
