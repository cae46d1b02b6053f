"""Clinics (tenants) and their domains, in the public schema."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from secretaria.crypto import EncryptedTextField

SLUG_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Fuso horário desconhecido: {value}")


class Clinic(TenantMixin):
    """A clinic: one PostgreSQL schema named by its slug."""

    name = models.CharField("nome", max_length=200)
    # The slug is the schema name, the metric label and the Cal.com metadata `tenant`.
    schema_name = models.CharField(
        "identificador",
        max_length=40,
        unique=True,
        validators=[RegexValidator(SLUG_PATTERN, "Use letras minúsculas, números e _, começando por letra.")],
    )
    tenant_id = models.PositiveBigIntegerField(
        "ID externo", null=True, blank=True, unique=True, help_text="Identificador do operador (ex.: cobrança)."
    )
    time_zone = models.CharField(
        "fuso horário", max_length=64, default="America/Sao_Paulo", validators=[validate_time_zone]
    )
    is_active = models.BooleanField("ativa", default=True)

    class WebhookAuth(models.TextChoices):
        HMAC = "hmac", "HMAC (X-Signature e X-Timestamp)"
        URL_TOKEN = "url_token", "token na URL (/webhook/whaticket/<token>)"
        HEADER_TOKEN = "header_token", "token no cabeçalho (X-Webhook-Token)"

    webhook_auth_mode = models.CharField(
        "autenticação do webhook", max_length=12, choices=WebhookAuth.choices, default=WebhookAuth.HMAC
    )
    webhook_secret = EncryptedTextField("segredo do webhook", blank=True, default="")
    webhook_token = EncryptedTextField("token do webhook", blank=True, default="")
    # During a rotation (`manage.py rotate_secrets --webhook`) the previous secret and token
    # stay valid until webhook_previous_valid_until, then are refused.
    webhook_token_previous = EncryptedTextField("token anterior do webhook", blank=True, default="")
    webhook_secret_previous = EncryptedTextField("segredo anterior do webhook", blank=True, default="")
    webhook_previous_valid_until = models.DateTimeField("segredo e token anteriores válidos até", null=True, blank=True)
    created_at = models.DateTimeField("criada em", auto_now_add=True)
    updated_at = models.DateTimeField("atualizada em", auto_now=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        verbose_name = "clínica"
        verbose_name_plural = "clínicas"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    @property
    def slug(self) -> str:
        return self.schema_name


class Domain(DomainMixin):
    class Meta:
        verbose_name = "domínio"
        verbose_name_plural = "domínios"

    def __str__(self) -> str:
        return self.domain
