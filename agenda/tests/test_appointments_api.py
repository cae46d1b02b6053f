"""`/api/agenda/appointments`: per-clinic API keys or a staff session; book, list, cancel, reschedule, mark."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from agenda.apikeys import api_key_create
from agenda.models import ApiKey, Appointment
from agenda.tests.conftest import MONDAY, build_agenda
from conftest import STAFF_PASSWORD
from tenants.models import Clinic

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(clinics):
    made = {}
    for clinic in (clinics.alfa, clinics.beta):
        connection.set_tenant(clinic)
        timezone.activate(clinic.time_zone)
        objects = build_agenda()
        _, key = api_key_create(name="integração")
        made[clinic.schema_name] = {**objects, "key": key}
        timezone.deactivate()
    connection.set_schema_to_public()
    return made


def _api(client, method, path, host, key=None, header="Authorization", **data):
    headers = {"Host": host}
    if key:
        headers[header] = f"Bearer {key}" if header == "Authorization" else key
    call = getattr(client, method)
    if method == "get":
        return call(path, data, headers=headers)
    return call(path, data, content_type="application/json", headers=headers)


def _start(hour=10):
    return datetime.combine(MONDAY, time(hour), tzinfo=ZoneInfo("America/Sao_Paulo")).isoformat()


def test_book_list_reschedule_cancel_with_an_api_key(client, setup):
    alfa = setup["alfa"]
    booked = _api(
        client,
        "post",
        "/api/agenda/appointments",
        "alfa.localhost",
        alfa["key"],
        service=alfa["consulta"].pk,
        professional=alfa["ana"].pk,
        start=_start(10),
        patient_name="Rita Souza",
        payer="convenio",
        insurance_name="Unimed",
    )
    assert booked.status_code == 201, booked.content
    body = booked.json()
    assert body["start"] == f"{MONDAY.isoformat()}T10:00:00-03:00"
    assert (body["status"], body["source"], body["insurance_name"]) == ("scheduled", "api", "Unimed")

    taken = _api(
        client,
        "post",
        "/api/agenda/appointments",
        "alfa.localhost",
        alfa["key"],
        header="X-Api-Key",
        service=alfa["consulta"].pk,
        professional=alfa["ana"].pk,
        start=_start(10),
        patient_name="Outra",
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "SlotTaken"

    listed = _api(
        client, "get", "/api/agenda/appointments", "alfa.localhost", alfa["key"], date_from=MONDAY.isoformat()
    )
    assert [a["patient_name"] for a in listed.json()] == ["Rita Souza"]

    moved = _api(
        client,
        "post",
        f"/api/agenda/appointments/{body['id']}/reschedule",
        "alfa.localhost",
        alfa["key"],
        start=_start(11),
    )
    assert moved.status_code == 201
    assert moved.json()["rescheduled_from"] == body["id"]
    cancelled = _api(
        client,
        "post",
        f"/api/agenda/appointments/{moved.json()['id']}/cancel",
        "alfa.localhost",
        alfa["key"],
        reason="paciente desistiu",
    )
    assert cancelled.json()["status"] == "cancelled"
    again = _api(client, "post", f"/api/agenda/appointments/{moved.json()['id']}/cancel", "alfa.localhost", alfa["key"])
    assert again.status_code == 409


def test_an_api_key_of_clinic_a_is_refused_on_clinic_b(client, setup):
    response = _api(client, "get", "/api/agenda/appointments", "beta.localhost", setup["alfa"]["key"])
    assert response.status_code == 401
    assert response.json()["detail"] == "Chave de API inválida."


def test_without_credentials_or_with_a_revoked_key(client, setup):
    assert _api(client, "get", "/api/agenda/appointments", "alfa.localhost").status_code in (401, 403)
    connection.set_tenant(Clinic.objects.get(schema_name="alfa"))
    ApiKey.objects.update(revoked=True)
    connection.set_schema_to_public()
    assert _api(client, "get", "/api/agenda/appointments", "alfa.localhost", setup["alfa"]["key"]).status_code == 401


def test_a_staff_session_can_use_the_api(client, setup):
    client.post(
        "/painel/login/",
        {"username": "staff@beta.test", "password": STAFF_PASSWORD},
        headers={"Host": "beta.localhost"},
    )
    response = client.get("/api/agenda/appointments", headers={"Host": "beta.localhost"})
    assert response.status_code == 200
    assert client.get("/api/agenda/appointments", headers={"Host": "alfa.localhost"}).status_code in (401, 403)


def test_bad_input_is_a_400(client, setup):
    alfa = setup["alfa"]
    response = _api(
        client,
        "post",
        "/api/agenda/appointments",
        "alfa.localhost",
        alfa["key"],
        service=9999,
        start="amanhã",
        patient_name="",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"service", "start", "patient_name"}


def test_mark_no_show_only_after_the_end(client, setup):
    alfa = setup["alfa"]
    connection.set_tenant(Clinic.objects.get(schema_name="alfa"))
    past = timezone.now() - timedelta(days=1)
    appointment = Appointment.objects.create(
        patient_name="Faltou",
        professional=alfa["ana"],
        service=alfa["consulta"],
        start=past,
        end=past + timedelta(minutes=30),
    )
    connection.set_schema_to_public()
    response = _api(
        client,
        "post",
        f"/api/agenda/appointments/{appointment.pk}/mark",
        "alfa.localhost",
        alfa["key"],
        status="no_show",
    )
    assert response.json()["status"] == "no_show"


def test_create_api_key_command_prints_the_key_once(setup, capsys):
    call_command("create_api_key", "--tenant", "alfa", "--name", "ERP")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "API key 'ERP' for alfa (shown once):"
    assert lines[1].startswith("sv_")
    connection.set_tenant(Clinic.objects.get(schema_name="alfa"))
    stored = ApiKey.objects.get(name="ERP")
    assert lines[1] not in (stored.key_hash, stored.prefix)
    connection.set_schema_to_public()
