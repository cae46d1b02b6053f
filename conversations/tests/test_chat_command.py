"""`manage.py chat`: a terminal conversation through the same pipeline; the booking is real."""

import builtins
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agenda.models import Appointment
from agenda.tests.conftest import MONDAY, build_agenda
from conftest import STAFF_PASSWORD
from conversations.models import Contact, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def agenda_alfa(in_alfa):
    return build_agenda()


def chat(monkeypatch, lines, *args):
    typed = iter(lines)

    def fake_input(prompt=""):
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", fake_input)
    out = StringIO()
    call_command("chat", "--tenant", "alfa", *args, stdout=out)
    return out.getvalue()


def test_chat_books_a_real_appointment_seen_in_the_painel_and_the_api(agenda_alfa, monkeypatch, client):
    when = f"{MONDAY:%d/%m}"
    output = chat(
        monkeypatch, [f"oi, quero marcar uma consulta dia {when} às 9h", "sim"], "--phone", "+55 11 90000-1234"
    )

    assert f"{MONDAY:%d/%m} às 09:00" in output and "Posso marcar?" in output
    assert "Pronto, Visitante" in output
    booked = Appointment.objects.get(contact__phone="+5511900001234")
    assert booked.start.hour == 12  # 09:00 in São Paulo, stored in UTC
    assert booked.source == "whatsapp"
    contact = Contact.objects.get(phone="+5511900001234")
    assert contact.channel == "terminal"
    assert set(Message.objects.filter(direction="out").values_list("status", flat=True)) == {"stored"}

    slots = client.get(
        f"/api/agenda/availability?date={MONDAY.isoformat()}&service={agenda_alfa['consulta'].pk}",
        headers={"Host": "alfa.localhost"},
    ).json()["slots"]
    starts = {(slot["start"], slot["professional"]["id"]) for slot in slots}
    assert (f"{MONDAY.isoformat()}T09:00:00-03:00", booked.professional_id) not in starts

    client.post(
        "/painel/login/",
        {"username": "staff@alfa.test", "password": STAFF_PASSWORD},
        headers={"Host": "alfa.localhost"},
    )
    page = client.get("/painel/agenda/appointment/", headers={"Host": "alfa.localhost"})
    assert page.status_code == 200 and "Visitante" in page.content.decode()


def test_chat_refuses_a_real_patients_number(agenda_alfa, monkeypatch):
    Contact.objects.create(phone="+5511987650000", wa_id="5511987650000", name="Paciente")
    with pytest.raises(CommandError, match="WhatsApp contact"):
        chat(monkeypatch, ["oi"], "--phone", "+5511987650000")
