"""Reads of clinics and domains."""

from __future__ import annotations

import threading
import time

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenants.models import Clinic, Domain

# Every request resolves its clinic: keep host -> clinic for a few seconds per process.
# Changes made in this process clear it at once; other processes see them within the TTL.
HOST_CACHE_SECONDS = 10.0
_host_cache: dict[str, tuple[float, Clinic | None]] = {}
_host_cache_lock = threading.Lock()


def clinic_for_host(*, host: str) -> Clinic | None:
    """The clinic that owns `host` (a domain of the domain table), active or not."""
    host = host.lower()
    now = time.monotonic()
    cached = _host_cache.get(host)
    if cached is not None and cached[0] > now:
        return cached[1]
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    clinic = domain.tenant if domain else None
    with _host_cache_lock:
        if len(_host_cache) > 10_000:
            _host_cache.clear()
        _host_cache[host] = (now + HOST_CACHE_SECONDS, clinic)
    return clinic


def clear_host_cache() -> None:
    with _host_cache_lock:
        _host_cache.clear()


@receiver([post_save, post_delete], sender=Clinic)
@receiver([post_save, post_delete], sender=Domain)
def _clinic_changed(**kwargs) -> None:
    clear_host_cache()


def clinic_by_slug(*, slug: str) -> Clinic | None:
    return Clinic.objects.filter(schema_name=slug).first()


def active_clinics(*, slug: str | None = None) -> list[Clinic]:
    """Every active clinic, or the one named (empty when it is not an active clinic)."""
    clinics = Clinic.objects.filter(is_active=True).order_by("schema_name")
    if slug:
        clinics = clinics.filter(schema_name=slug)
    return list(clinics)
