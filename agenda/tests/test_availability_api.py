"""`GET /api/agenda/availability`: each clinic's own local hours, public, rate-limited, clear errors."""

import pytest
from django.db import connection
from django.utils import timezone

from agenda.tests.conftest import MONDAY, build_agenda

pytestmark = pytest.mark.django_db


@pytest.fixture
def both_agendas(clinics):
    made = {}
    for clinic, tz in ((clinics.alfa, "America/Sao_Paulo"), (clinics.beta, "America/Manaus")):
        connection.set_tenant(clinic)
        timezone.activate(tz)
        made[clinic.schema_name] = build_agenda()
        timezone.deactivate()
    connection.set_schema_to_public()
    from django.core.cache import cache

    cache.clear()
    return made


def _get(client, host, query, **headers):
    return client.get(f"/api/agenda/availability?{query}", headers={"Host": host, **headers})


def test_each_clinic_is_offered_its_own_local_hours(client, both_agendas):
    day = MONDAY.isoformat()
    alfa = _get(client, "alfa.localhost", f"date={day}&service={both_agendas['alfa']['consulta'].pk}").json()
    beta = _get(client, "beta.localhost", f"date={day}&service={both_agendas['beta']['consulta'].pk}").json()
    assert alfa["timezone"] == "America/Sao_Paulo"
    assert beta["timezone"] == "America/Manaus"
    assert alfa["slots"][0]["start"] == f"{day}T08:00:00-03:00"
    assert beta["slots"][0]["start"] == f"{day}T08:00:00-04:00"  # 08:00 in Manaus is 09:00 in São Paulo
    assert alfa["slots"][0] == {
        "start": f"{day}T08:00:00-03:00",
        "end": f"{day}T08:30:00-03:00",
        "professional": {"id": both_agendas["alfa"]["bruno"].pk, "name": "Dr. Bruno"},
        "service": {"id": both_agendas["alfa"]["consulta"].pk, "name": "Consulta"},
    }
    assert alfa["slots"][-1]["start"] == f"{day}T17:30:00-03:00"


def test_several_days_across_the_weekend(client, both_agendas):
    friday = MONDAY.replace(day=MONDAY.day)  # the week of MONDAY
    response = _get(
        client,
        "alfa.localhost",
        f"date={friday.isoformat()}&days=7&professional=" + str(both_agendas["alfa"]["ana"].pk),
    )
    days = {slot["start"][:10] for slot in response.json()["slots"]}
    assert len(days) == 5  # Monday to Friday, nothing on the weekend


def test_the_seeds_curl_works_as_written(client, both_agendas, clinics):
    """curl -H "X-Company-Domain: acme.com" ".../api/agenda/availability?date=..." """
    from tenants.models import Domain

    Domain.objects.create(domain="acme.com", tenant=clinics.alfa, is_primary=False)
    response = client.get(
        f"/api/agenda/availability?date={MONDAY.isoformat()}",
        headers={"Host": "localhost", "X-Company-Domain": "acme.com"},
    )
    assert response.status_code == 200
    assert response.json()["timezone"] == "America/Sao_Paulo"
    assert len(response.json()["slots"]) > 0


@pytest.mark.parametrize(
    "query", ["date=2024-13-01", "date=amanha", "", "date=2024-07-01&days=99", "date=2024-07-01&service=x"]
)
def test_bad_input_is_a_400_with_a_reason(client, both_agendas, query):
    response = _get(client, "alfa.localhost", query)
    assert response.status_code == 400
    assert response.json()["detail"] == "Dados inválidos."
    assert response.json()["errors"]


def test_unknown_clinic_is_a_json_404(client, both_agendas):
    response = client.get(
        "/api/agenda/availability?date=2024-07-01", headers={"Host": "localhost", "X-Company-Domain": "nao-existe.com"}
    )
    assert response.status_code == 404
    assert "detail" in response.json()


def test_thirty_requests_a_minute_per_address(client, both_agendas):
    codes = [_get(client, "alfa.localhost", f"date={MONDAY.isoformat()}").status_code for _ in range(31)]
    assert codes[:30] == [200] * 30
    assert codes[30] == 429


def test_nothing_of_one_clinic_is_offered_by_another(client, both_agendas):
    beta_ids = {both_agendas["beta"]["ana"].pk, both_agendas["beta"]["bruno"].pk}
    response = _get(client, "alfa.localhost", f"date={MONDAY.isoformat()}&professional={max(beta_ids) + 100}")
    assert response.json()["slots"] == []


def test_the_openapi_document_describes_the_endpoints(client, clinics):
    import yaml

    response = client.get("/api/schema/", headers={"Host": "alfa.localhost"})
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert {"/api/agenda/availability", "/api/clinic", "/webhook/whaticket/", "/webhook/whaticket/{token}/"} <= set(
        document["paths"]
    )
    assert "AvailabilityOutput" in document["components"]["schemas"]
    assert client.get("/api/docs/", headers={"Host": "alfa.localhost"}).status_code == 200
