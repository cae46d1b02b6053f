"""Which clinic a request belongs to: by host, by header only on the shared host, never by accident."""

import pytest

pytestmark = pytest.mark.django_db


def test_clinic_is_resolved_by_host(client, clinics):
    response = client.get("/api/clinic", HTTP_HOST="alfa.localhost")
    assert response.status_code == 200
    assert response.json()["slug"] == "alfa"
    assert response.json()["name"] == "Clínica Alfa"


def test_header_names_the_clinic_on_the_public_host(client, clinics):
    response = client.get("/api/clinic", HTTP_HOST="localhost", HTTP_X_COMPANY_DOMAIN="beta.localhost")
    assert response.status_code == 200
    assert response.json()["slug"] == "beta"


def test_header_is_ignored_on_a_clinics_own_host(client, clinics):
    response = client.get("/api/clinic", HTTP_HOST="beta.localhost", HTTP_X_COMPANY_DOMAIN="alfa.localhost")
    assert response.json()["slug"] == "beta"


@pytest.mark.parametrize("path", ["/api/clinic", "/webhook/whaticket", "/api/agenda/availability?date=2024-07-01"])
def test_unknown_clinic_gets_json_404(client, clinics, path):
    response = client.get(path, HTTP_HOST="localhost", HTTP_X_COMPANY_DOMAIN="nao-existe.com")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "X-Company-Domain" in response.json()["detail"]


def test_unknown_host_on_api_path_gets_json_404_not_public_data(client, clinics):
    response = client.get("/api/clinic", HTTP_HOST="outra.localhost")
    assert response.status_code == 404
    assert response.json() == {"detail": "Nenhuma clínica atende neste endereço."}


def test_header_does_not_reach_the_painel_from_the_public_host(client, clinics):
    response = client.get("/painel/login/", HTTP_HOST="localhost", HTTP_X_COMPANY_DOMAIN="alfa.localhost")
    assert response.status_code == 404


def test_inactive_clinic_is_not_served(client, clinics):
    clinics.alfa.is_active = False
    clinics.alfa.save(update_fields=["is_active"])
    response = client.get("/api/clinic", HTTP_HOST="alfa.localhost")
    assert response.status_code == 404
    assert response.json()["detail"] == "Esta clínica está desativada."


def test_each_clinics_requests_run_in_its_time_zone(client, clinics):
    alfa = client.get("/api/clinic", HTTP_HOST="alfa.localhost").json()
    beta = client.get("/api/clinic", HTTP_HOST="beta.localhost").json()
    assert alfa["timezone"] == "America/Sao_Paulo"
    assert alfa["now"].endswith("-03:00")
    assert beta["timezone"] == "America/Manaus"
    assert beta["now"].endswith("-04:00")


def test_disallowed_host_on_api_path_is_a_json_400(client, clinics, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    response = client.get("/api/clinic", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert response.json()["detail"] == "Host não permitido."


def test_metrics_are_not_served_on_a_clinics_host(client, clinics):
    assert client.get("/metrics", HTTP_HOST="alfa.localhost").status_code == 404
    public = client.get("/metrics", HTTP_HOST="localhost")
    assert public.status_code == 200
    assert b"django_http_requests" in public.content
