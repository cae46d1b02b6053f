"""Provisioning a clinic: idempotent, fast enough, and clear about bad input."""

import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from tenants.models import Clinic, Domain
from tenants.services import ProvisioningError, clinic_provision

pytestmark = pytest.mark.django_db


def test_provision_creates_schema_domain_secret_and_staff_admin(clinics):
    result = clinic_provision(
        slug="gama", name="Clínica Gama", tenant_id=42, admin_email="Dona@Gama.test", admin_password=None
    )
    clinic = result.clinic
    assert result.created
    assert schema_exists("gama")
    assert list(clinic.domains.values_list("domain", "is_primary")) == [("gama.localhost", True)]
    assert clinic.tenant_id == 42
    assert len(clinic.webhook_secret) == 64
    assert result.admin_password  # generated and shown once
    with schema_context("gama"):
        admin = User.objects.get(username="dona@gama.test")
        assert admin.is_superuser and admin.is_staff
        assert admin.check_password(result.admin_password)
    # the admin lives only in the clinic's schema
    connection.set_schema_to_public()
    assert not User.objects.filter(username="dona@gama.test").exists()


def test_default_domain_of_a_slug_with_underscore_is_a_valid_host(clinics):
    result = clinic_provision(slug="clinica_sul", name="Clínica Sul")
    assert list(result.clinic.domains.values_list("domain", flat=True)) == ["clinica-sul.localhost"]


def test_provision_again_changes_nothing(clinics):
    first = clinic_provision(
        slug="delta", name="Clínica Delta", admin_email="a@delta.test", admin_password="x-senha-123"
    )
    again = clinic_provision(
        slug="delta", name="Clínica Delta", admin_email="a@delta.test", admin_password="x-senha-123"
    )
    assert not again.created
    assert again.changes == []
    assert again.clinic.webhook_secret == first.clinic.webhook_secret
    assert Domain.objects.filter(tenant=again.clinic).count() == 1


def test_command_reports_and_is_idempotent(clinics, capsys):
    call_command("provision_tenant", "--slug", "acme", "--name", "Clínica Acme", "--domain", "acme.localhost")
    call_command("provision_tenant", "--slug", "acme", "--name", "Clínica Acme", "--domain", "acme.localhost")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "clinic acme: created, domain acme.localhost added"
    assert out[1] == "clinic acme: nothing to change"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slug": "Acme"}, "invalid slug"),
        ({"slug": "1acme"}, "invalid slug"),
        ({"slug": "a"}, "invalid slug"),
        ({"slug": "public"}, "invalid slug"),
        ({"slug": "pg_acme"}, "invalid slug"),
        ({"slug": "acme-x"}, "invalid slug"),
        ({"slug": "novo", "domains": ["alfa.localhost"]}, "belongs to another clinic (alfa)"),
        ({"slug": "novo", "domains": ["não é domínio"]}, "invalid domain"),
        ({"slug": "novo", "time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"slug": "novo", "name": "  "}, "name must not be empty"),
    ],
)
def test_bad_input_is_refused_with_a_reason(clinics, kwargs, message):
    with pytest.raises(ProvisioningError, match=message.replace("(", r"\(").replace(")", r"\)")):
        clinic_provision(**{"name": "Clínica", **kwargs})
    assert not Clinic.objects.filter(schema_name=kwargs["slug"]).exists()


def test_tenant_id_belonging_to_another_clinic_is_refused(clinics):
    clinic_provision(slug="eta", name="Eta", tenant_id=7)
    with pytest.raises(ProvisioningError, match="tenant id 7 belongs to another clinic"):
        clinic_provision(slug="teta", name="Teta", tenant_id=7)


def test_command_exits_non_zero_with_one_line_reason(clinics):
    with pytest.raises(CommandError, match="invalid slug"):
        call_command("provision_tenant", "--slug", "Bad!", "--name", "X")


@pytest.mark.integration
def test_command_exit_code_in_a_real_process(committed):
    from secretaria.testing.processes import BASE_DIR, product_env

    result = subprocess.run(
        [sys.executable, "manage.py", "provision_tenant", "--slug", "x", "--name", "X"],
        cwd=BASE_DIR,
        env=product_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: invalid slug 'x': use 2-40 lowercase letters, digits or _, starting with a letter (not reserved)"
    ]
