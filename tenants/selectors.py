"""Reads of clinics and domains."""

from __future__ import annotations

from tenants.models import Clinic, Domain


def clinic_for_host(*, host: str) -> Clinic | None:
    """The clinic that owns `host` (a domain of the domain table), active or not."""
    domain = Domain.objects.select_related("tenant").filter(domain=host.lower()).first()
    return domain.tenant if domain else None


def clinic_by_slug(*, slug: str) -> Clinic | None:
    return Clinic.objects.filter(schema_name=slug).first()
