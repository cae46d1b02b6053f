"""The painel's agenda screens."""

from datetime import time

import pytest
from django.db import connection

from agenda.models import Appointment
from agenda.tests.conftest import MONDAY
from conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, agenda_alfa):
    credentials = {"username": "staff@alfa.test", "password": STAFF_PASSWORD}
    client.post("/painel/login/", credentials, headers={"Host": "alfa.localhost"})
    return client


def test_agenda_screens_render(staff, agenda_alfa):
    for path in [
        "/painel/agenda/appointment/",
        "/painel/agenda/appointment/add/",
        "/painel/agenda/professional/",
        f"/painel/agenda/professional/{agenda_alfa['ana'].pk}/change/",
        "/painel/agenda/service/",
        "/painel/agenda/closeddate/",
        "/painel/agenda/weeklyhours/",
        "/painel/agenda/agendasettings/",
    ]:
        assert staff.get(path, headers={"Host": "alfa.localhost"}).status_code == 200, path


def _add(staff, agenda_alfa, hour, minute=0, name="Rita"):
    return staff.post(
        "/painel/agenda/appointment/add/",
        {
            "patient_name": name,
            "patient_phone": "",
            "professional": agenda_alfa["ana"].pk,
            "service": agenda_alfa["consulta"].pk,
            "payer": "particular",
            "insurance_name": "",
            "insurance_card": "",
            "start_0": MONDAY.strftime("%d/%m/%Y"),
            "start_1": time(hour, minute).strftime("%H:%M:%S"),
            "notes": "",
            "Reminder_appointment-TOTAL_FORMS": "0",
            "Reminder_appointment-INITIAL_FORMS": "0",
            "reminders-TOTAL_FORMS": "0",
            "reminders-INITIAL_FORMS": "0",
        },
        headers={"Host": "alfa.localhost"},
    )


def test_staff_books_a_free_slot_and_is_told_when_it_is_not(staff, agenda_alfa):
    response = _add(staff, agenda_alfa, 9)
    assert response.status_code == 302, response.content.decode()[:3000]
    appointment = Appointment.objects.get()
    assert (appointment.source, appointment.status, appointment.reminders.count()) == ("painel", "scheduled", 2)
    again = _add(staff, agenda_alfa, 9, name="Outra")
    assert again.status_code == 200
    assert "não tem Consulta livre" in again.content.decode()
    lunch = _add(staff, agenda_alfa, 12, 30, name="Almoço")
    assert "não tem Consulta livre" in lunch.content.decode()
    assert Appointment.objects.count() == 1
    connection.set_schema_to_public()
