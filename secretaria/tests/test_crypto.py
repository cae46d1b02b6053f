"""Secrets at rest are ciphertext; rotating keys keeps old values readable."""

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from secretaria import crypto
from tenants.models import Clinic

pytestmark = pytest.mark.django_db


def test_webhook_secret_is_stored_encrypted(clinics):
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM public.tenants_clinic WHERE schema_name = 'alfa'")
        stored = cursor.fetchone()[0]
    assert stored != clinics.alfa.webhook_secret
    assert clinics.alfa.webhook_secret not in stored
    assert crypto.decrypt(stored) == clinics.alfa.webhook_secret


def test_a_new_first_key_writes_and_old_keys_still_read(clinics, settings):
    old_token = crypto.encrypt("segredo-antigo")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, *settings.FIELD_ENCRYPTION_KEY]
    assert crypto.decrypt(old_token) == "segredo-antigo"
    rotated = crypto.rotate(old_token)
    assert Fernet(new_key.encode()).decrypt(rotated.encode()) == b"segredo-antigo"
    Clinic.objects.filter(pk=clinics.alfa.pk).update(webhook_secret="outro-segredo")
    assert Clinic.objects.get(pk=clinics.alfa.pk).webhook_secret == "outro-segredo"


def test_unknown_key_is_a_clear_error(settings):
    token = crypto.encrypt("x")
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
