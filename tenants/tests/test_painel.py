"""The painel: per-clinic logins, in pt-BR, with the clinic's name; the operator's admin."""

import pytest
from django.contrib.auth.models import User

from conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, host, username, password=STAFF_PASSWORD):
    return client.post(
        "/painel/login/?next=/painel/",
        {"username": username, "password": password},
        HTTP_HOST=host,
    )


def test_painel_login_page_is_pt_br_with_the_clinics_name(client, clinics):
    response = client.get("/painel/login/", HTTP_HOST="alfa.localhost")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Clínica Alfa" in body
    assert "Senha" in body
    assert "Bem-vindo(a) de volta à" in body
    assert "Welcome" not in body
    assert 'lang="pt-br"' in body


def test_staff_logs_into_their_own_clinic(client, clinics):
    response = _login(client, "alfa.localhost", "staff@alfa.test")
    assert response.status_code == 302
    assert response["Location"] == "/painel/"
    index = client.get("/painel/", HTTP_HOST="alfa.localhost")
    assert index.status_code == 200
    assert "Clínica Alfa" in index.content.decode()


def test_staff_cannot_log_into_another_clinic(client, clinics):
    response = _login(client, "beta.localhost", "staff@alfa.test")
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_a_session_from_one_clinic_is_worthless_on_another(client, clinics):
    assert _login(client, "alfa.localhost", "staff@alfa.test").status_code == 302
    response = client.get("/painel/", HTTP_HOST="beta.localhost")
    assert response.status_code == 302
    assert response["Location"].startswith("/painel/login/")


def test_operator_admin_lists_clinics_and_domains(client, clinics):
    User.objects.create_superuser("operador", "op@example.com", STAFF_PASSWORD)
    assert client.login(username="operador", password=STAFF_PASSWORD)
    clinics_page = client.get("/admin/tenants/clinic/", HTTP_HOST="localhost")
    assert clinics_page.status_code == 200
    assert "Clínica Alfa" in clinics_page.content.decode()
    assert "Clínica Beta" in clinics_page.content.decode()
    domains_page = client.get("/admin/tenants/domain/", HTTP_HOST="localhost")
    assert "beta.localhost" in domains_page.content.decode()


def test_operator_login_does_not_exist_in_a_clinic(client, clinics):
    User.objects.create_superuser("operador", "op@example.com", STAFF_PASSWORD)
    assert _login(client, "alfa.localhost", "operador").status_code == 200
    assert "_auth_user_id" not in client.session
