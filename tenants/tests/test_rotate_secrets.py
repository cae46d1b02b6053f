"""`manage.py rotate_secrets`: a new field key, re-encryption of every stored secret, and new
webhook credentials with a grace period (intake's side: conversations/tests/test_intake.py)."""

import io
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.models import WhaticketSettings
from tenants.models import Clinic
from tenants.rotation import clinic_webhook_rotate

pytestmark = pytest.mark.django_db


def _run(*args):
    out = io.StringIO()
    call_command("rotate_secrets", *args, stdout=out)
    return out.getvalue()


def _raw(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else None


def test_new_field_key_puts_the_new_key_first_and_keeps_the_current_ones(settings):
    out = _run("--new-field-key")
    key = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("new key: "))
    value = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("FIELD_ENCRYPTION_KEY="))
    assert value.split(",") == [key, *settings.FIELD_ENCRYPTION_KEY]
    Fernet(key.encode())  # a valid Fernet key


def test_reencrypted_secrets_decrypt_with_the_new_key_alone(clinics, settings):
    old_keys = list(settings.FIELD_ENCRYPTION_KEY)
    clinic_webhook_rotate(clinic=Clinic.objects.get(schema_name="alfa"), grace_hours=1)  # fills *_previous
    with schema_context("alfa"):
        WhaticketSettings.objects.create(bearer_token="token-alfa", jwt_password="senha-alfa")
    with schema_context("beta"):
        WhaticketSettings.objects.create(bearer_token="token-beta")
    before = {
        c.schema_name: (c.webhook_secret, c.webhook_token, c.webhook_token_previous, c.webhook_secret_previous)
        for c in Clinic.objects.all()
    }
    assert all(before["alfa"])

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, *old_keys]
    out = _run("--reencrypt")
    assert "re-encrypted" in out and "token-alfa" not in out

    settings.FIELD_ENCRYPTION_KEY = [new_key]
    after = {
        c.schema_name: (c.webhook_secret, c.webhook_token, c.webhook_token_previous, c.webhook_secret_previous)
        for c in Clinic.objects.all()
    }
    assert after == before
    with schema_context("alfa"):
        assert WhaticketSettings.objects.values_list("bearer_token", "jwt_password").get() == (
            "token-alfa",
            "senha-alfa",
        )
    with schema_context("beta"):
        assert WhaticketSettings.objects.values_list("bearer_token", "jwt_password").get() == ("token-beta", "")

    [(stored,)] = _raw("SELECT bearer_token FROM beta.conversations_whaticketsettings")
    assert Fernet(new_key.encode()).decrypt(stored.encode()) == b"token-beta"
    with pytest.raises(InvalidToken):
        Fernet(old_keys[0].encode()).decrypt(stored.encode())


def test_reencrypt_refuses_an_unreadable_secret_and_changes_nothing(clinics, settings):
    with schema_context("beta"):
        WhaticketSettings.objects.create(bearer_token="token-beta")
    stranger = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    _raw("UPDATE beta.conversations_whaticketsettings SET bearer_token = %s", [stranger])
    public_before = _raw("SELECT id, webhook_secret FROM public.tenants_clinic")

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEY]
    with pytest.raises(
        CommandError, match=r"beta\.conversations_whaticketsettings\.bearer_token .* cannot be decrypted"
    ):
        _run("--reencrypt")
    assert _raw("SELECT id, webhook_secret FROM public.tenants_clinic") == public_before


def test_webhook_rotation_prints_the_new_values_and_keeps_the_old_ones_for_the_grace_period(clinics):
    alfa_before = Clinic.objects.get(schema_name="alfa")
    beta_before = Clinic.objects.get(schema_name="beta")
    out = _run("--webhook", "--tenant", "alfa", "--grace-hours", "2")

    alfa = Clinic.objects.get(schema_name="alfa")
    assert f"secret: {alfa.webhook_secret}" in out and f"token: {alfa.webhook_token}" in out
    assert alfa_before.webhook_secret not in out and alfa_before.webhook_token not in out
    assert alfa.webhook_secret != alfa_before.webhook_secret
    assert alfa.webhook_token != alfa_before.webhook_token
    assert (alfa.webhook_secret_previous, alfa.webhook_token_previous) == (
        alfa_before.webhook_secret,
        alfa_before.webhook_token,
    )
    assert abs(alfa.webhook_previous_valid_until - (timezone.now() + timedelta(hours=2))) < timedelta(minutes=1)
    beta = Clinic.objects.get(schema_name="beta")
    assert (beta.webhook_secret, beta.webhook_token) == (beta_before.webhook_secret, beta_before.webhook_token)
    assert beta.webhook_previous_valid_until is None


def test_webhook_rotation_of_every_clinic_and_without_grace(clinics):
    out = _run("--webhook", "--grace-hours", "0")
    assert "clinic alfa" in out and "clinic beta" in out
    for clinic in Clinic.objects.all():
        assert clinic.webhook_previous_valid_until is None
        assert clinic.webhook_secret_previous == clinic.webhook_token_previous == ""


def test_webhook_rotation_of_an_unknown_clinic_is_refused(clinics):
    with pytest.raises(CommandError, match="no clinic 'gama'"):
        _run("--webhook", "--tenant", "gama")
