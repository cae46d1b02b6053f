"""Secret rotation: a new FIELD_ENCRYPTION_KEY, re-encrypting every stored secret with it,
and new per-clinic webhook secrets with a grace period for the old ones."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from secretaria import crypto
from tenants.models import Clinic


class RotationError(Exception):
    """Rotation could not be done; the message is one line for the operator."""


@dataclass
class FieldKey:
    key: str
    setting: str  # the whole FIELD_ENCRYPTION_KEY value to set: the new key first


@dataclass
class WebhookRotation:
    clinic: Clinic
    secret: str
    token: str
    previous_valid_until: datetime | None


def field_key_new() -> FieldKey:
    """A new Fernet key, and FIELD_ENCRYPTION_KEY with it first and the current keys after
    (the first key encrypts, every key decrypts, so nothing stored becomes unreadable)."""
    key = Fernet.generate_key().decode()
    return FieldKey(key=key, setting=",".join([key, *settings.FIELD_ENCRYPTION_KEY]))


Columns = tuple[str, list[str]]  # the primary key's column, the encrypted columns


def _encrypted_columns() -> tuple[dict[str, Columns], dict[str, Columns]]:
    """{table: columns} of every encrypted field, in the public schema and in each clinic's."""
    public: dict[str, Columns] = {}
    per_clinic: dict[str, Columns] = {}
    tenant_apps = set(settings.TENANT_APPS)
    for model in apps.get_models():
        columns = [f.column for f in model._meta.concrete_fields if isinstance(f, crypto.EncryptedTextField)]
        if not columns:
            continue
        target = per_clinic if model._meta.app_config.name in tenant_apps else public
        target[model._meta.db_table] = (model._meta.pk.column, columns)
    return public, per_clinic


def _reencrypt_table(schema: str, table: str, pk: str, columns: list[str]) -> int:
    """Read the ciphertexts, rotate them to the first key, write them back (no model code:
    the field would decrypt and re-encrypt with whatever key it likes)."""
    qn = connection.ops.quote_name
    name = f"{qn(schema)}.{qn(table)}"
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn(pk)}, {', '.join(qn(c) for c in columns)} FROM {name} FOR UPDATE")  # noqa: S608
        for row_id, *values in cursor.fetchall():
            rotated = []
            for column, value in zip(columns, values, strict=True):
                if not value:
                    rotated.append(value)
                    continue
                try:
                    rotated.append(crypto.rotate(value))
                except InvalidToken as exc:
                    raise RotationError(
                        f"{schema}.{table}.{column} of row {row_id} cannot be decrypted with any key of "
                        "FIELD_ENCRYPTION_KEY; nothing was changed"
                    ) from exc
                count += 1
            assignments = ", ".join(f"{qn(c)} = %s" for c in columns)
            cursor.execute(f"UPDATE {name} SET {assignments} WHERE {qn(pk)} = %s", [*rotated, row_id])  # noqa: S608
    return count


def secrets_reencrypt() -> dict[str, int]:
    """Re-encrypt every stored secret (public and every clinic's schema) with the first key
    of FIELD_ENCRYPTION_KEY, in one transaction. Returns {"schema.table": values rotated}."""
    public, per_clinic = _encrypted_columns()
    counts: dict[str, int] = {}
    with transaction.atomic():
        connection.set_schema_to_public()
        for table, (pk, columns) in public.items():
            counts[f"public.{table}"] = _reencrypt_table("public", table, pk, columns)
        for schema in Clinic.objects.order_by("schema_name").values_list("schema_name", flat=True):
            for table, (pk, columns) in per_clinic.items():
                counts[f"{schema}.{table}"] = _reencrypt_table(schema, table, pk, columns)
    return counts


def clinic_webhook_rotate(*, clinic: Clinic, grace_hours: float = 24, now: datetime | None = None) -> WebhookRotation:
    """New webhook secret and token for `clinic`. The current ones stay valid for
    `grace_hours` (0: refused at once) while the clinic's Whaticket or relay is updated."""
    if grace_hours < 0:
        raise RotationError("--grace-hours must not be negative")
    now = now or timezone.now()
    secret, token = secrets.token_hex(32), secrets.token_urlsafe(32)
    if grace_hours:
        clinic.webhook_secret_previous = clinic.webhook_secret
        clinic.webhook_token_previous = clinic.webhook_token
        clinic.webhook_previous_valid_until = now + timedelta(hours=grace_hours)
    else:
        clinic.webhook_secret_previous = ""
        clinic.webhook_token_previous = ""
        clinic.webhook_previous_valid_until = None
    clinic.webhook_secret, clinic.webhook_token = secret, token
    clinic.save(
        update_fields=[
            "webhook_secret",
            "webhook_token",
            "webhook_secret_previous",
            "webhook_token_previous",
            "webhook_previous_valid_until",
            "updated_at",
        ]
    )
    return WebhookRotation(
        clinic=clinic, secret=secret, token=token, previous_valid_until=clinic.webhook_previous_valid_until
    )
