"""Provisioning clinics: the one way a clinic comes to exist (command, deploy, tests)."""

from __future__ import annotations

import re
import secrets
import zoneinfo
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django_tenants.utils import schema_context

from tenants.models import SLUG_PATTERN, Clinic, Domain

RESERVED_SLUGS = {"public", "information_schema", "admin", "api", "www", "static", "metrics"}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class ProvisioningError(ValueError):
    """Bad input for provisioning; the message is one line for the operator."""


@dataclass
class ProvisionResult:
    clinic: Clinic
    created: bool
    changes: list[str] = field(default_factory=list)
    admin_username: str | None = None
    admin_password: str | None = None  # only when generated now; shown once


def default_domain(slug: str) -> str:
    # Slugs may hold "_", which is not allowed in host names.
    return f"{slug.replace('_', '-')}.{settings.BASE_DOMAIN}"


def _validate(*, slug: str, name: str, domains: list[str], tenant_id: int | None, time_zone: str) -> None:
    if not re.match(SLUG_PATTERN, slug) or slug.startswith("pg_") or slug in RESERVED_SLUGS:
        raise ProvisioningError(
            f"invalid slug {slug!r}: use 2-40 lowercase letters, digits or _, starting with a letter (not reserved)"
        )
    if not name.strip():
        raise ProvisioningError("the clinic name must not be empty")
    for domain in domains:
        if not _HOSTNAME.match(domain):
            raise ProvisioningError(f"invalid domain {domain!r}")
    if tenant_id is not None and tenant_id < 0:
        raise ProvisioningError("tenant id must be a positive integer")
    if time_zone not in zoneinfo.available_timezones():
        raise ProvisioningError(f"unknown time zone {time_zone!r}")


def clinic_provision(
    *,
    slug: str,
    name: str,
    domains: list[str] | None = None,
    tenant_id: int | None = None,
    time_zone: str | None = None,
    admin_email: str | None = None,
    admin_password: str | None = None,
) -> ProvisionResult:
    """Create (or bring up to date) a clinic: schema, domains, webhook secret, staff admin.

    Idempotent: running it again with the same input changes nothing.
    """
    slug = slug.strip()
    domains = [d.strip().lower().rstrip(".") for d in (domains or [])] or [default_domain(slug)]
    time_zone = time_zone or settings.TIME_ZONE
    _validate(slug=slug, name=name, domains=domains, tenant_id=tenant_id, time_zone=time_zone)

    taken = Domain.objects.filter(domain__in=domains).exclude(tenant__schema_name=slug).first()
    if taken:
        raise ProvisioningError(f"domain {taken.domain!r} belongs to another clinic ({taken.tenant.schema_name})")
    if tenant_id is not None:
        other = Clinic.objects.filter(tenant_id=tenant_id).exclude(schema_name=slug).first()
        if other:
            raise ProvisioningError(f"tenant id {tenant_id} belongs to another clinic ({other.schema_name})")

    clinic = Clinic.objects.filter(schema_name=slug).first()
    created = clinic is None
    changes: list[str] = []
    if created:
        # Creating the schema runs its migrations; it cannot share a transaction with them.
        clinic = Clinic(
            schema_name=slug,
            name=name.strip(),
            tenant_id=tenant_id,
            time_zone=time_zone,
            webhook_secret=secrets.token_hex(32),
            webhook_token=secrets.token_urlsafe(32),
        )
        clinic.save(verbosity=0)
        changes.append("created")
    else:
        updates = {}
        if clinic.name != name.strip():
            updates["name"] = name.strip()
        if tenant_id is not None and clinic.tenant_id != tenant_id:
            updates["tenant_id"] = tenant_id
        if not clinic.webhook_secret:
            updates["webhook_secret"] = secrets.token_hex(32)
        if not clinic.webhook_token:
            updates["webhook_token"] = secrets.token_urlsafe(32)
        if updates:
            for key, value in updates.items():
                setattr(clinic, key, value)
            clinic.save(update_fields=[*updates, "updated_at"])
            changes.extend(f"{key} updated" for key in updates)

    with transaction.atomic():
        has_primary = clinic.domains.filter(is_primary=True).exists()
        for index, domain in enumerate(domains):
            _, made = Domain.objects.get_or_create(
                domain=domain, defaults={"tenant": clinic, "is_primary": not has_primary and index == 0}
            )
            if made:
                changes.append(f"domain {domain} added")

    result = ProvisionResult(clinic=clinic, created=created, changes=changes)
    if admin_email:
        _ensure_staff_admin(clinic, admin_email, admin_password, result)
    return result


def _ensure_staff_admin(clinic: Clinic, email: str, password: str | None, result: ProvisionResult) -> None:
    user_model = get_user_model()
    email = email.strip().lower()
    with schema_context(clinic.schema_name):
        user = user_model.objects.filter(username=email).first()
        if user is None:
            generated = password is None
            password = password or secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=email, email=email, password=password)
            result.changes.append(f"admin {email} created")
            if generated:
                result.admin_password = password
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            result.changes.append(f"admin {email} password updated")
    result.admin_username = email
