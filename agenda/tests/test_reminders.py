"""Reminders that confirm: due times with quiet hours, sent once, and what each answer does."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agenda import services
from agenda.models import Appointment, Reminder
from agenda.reminders import reminder_due_at, reminders_send_due
from agenda.tests.conftest import MONDAY
from conversations import services as conversation_services
from conversations.models import Contact, Conversation, Message

SP = ZoneInfo("America/Sao_Paulo")
QUIET = {"quiet_start": time(21), "quiet_end": time(8)}


def _at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=SP)


@pytest.fixture
def sp():
    timezone.activate("America/Sao_Paulo")
    yield
    timezone.deactivate()


@pytest.mark.parametrize(
    ("now", "start", "offset", "expected"),
    [
        # outside quiet hours: exactly offset hours before
        (_at(MONDAY, 9), _at(MONDAY + timedelta(days=2), 10), 24, _at(MONDAY + timedelta(days=1), 10)),
        # falls at 07:30 (quiet): the last minute before the quiet hours began, the evening before
        (_at(MONDAY, 9), _at(MONDAY + timedelta(days=2), 7, 30), 24, _at(MONDAY, 20, 59)),
        # booked at 22:00 for 09:00: 07:00 is quiet and 20:59 has passed: at 08:00, an hour before
        (_at(MONDAY, 22), _at(MONDAY + timedelta(days=1), 9), 2, _at(MONDAY + timedelta(days=1), 8)),
        # booked at 22:00 for 08:30: 08:00 is less than an hour before: not at all
        (_at(MONDAY, 22), _at(MONDAY + timedelta(days=1), 8, 30), 2, None),
        # already past when booked
        (_at(MONDAY, 9), _at(MONDAY, 10), 2, None),
    ],
)
def test_quiet_hours_rule(sp, now, start, offset, expected):
    assert reminder_due_at(appointment_start=start, offset_hours=offset, now=now, **QUIET) == expected


@pytest.fixture
def booked(agenda_alfa):
    """Ana's 10:00 consultation on MONDAY for a patient who writes on WhatsApp."""
    contact = Contact.objects.create(phone="+5511987650000", wa_id="5511987650000", name="Rita Souza")
    appointment = services.appointment_book(
        service=agenda_alfa["consulta"],
        professional=agenda_alfa["ana"],
        start=_at(MONDAY, 10),
        patient_name="Rita Souza",
        contact=contact,
        source=Appointment.Source.WHATSAPP,
    )
    return appointment


def _send(now):
    return reminders_send_due(now=now)


def test_a_due_reminder_is_sent_once_however_often_the_runner_runs(booked, django_capture_on_commit_callbacks):
    day_before = _at(MONDAY - timedelta(days=1), 10, 1)
    assert _send(day_before - timedelta(hours=1)) == 0  # not due yet
    assert _send(day_before) == 1
    assert _send(day_before) == 0  # a second runner, or the same after a restart
    assert _send(day_before + timedelta(minutes=5)) == 0
    outbound = Message.objects.filter(direction="out", kind="reminder")
    assert outbound.count() == 1
    assert outbound.get().body == (
        "Olá, Rita! Lembrete da sua consulta com Dra. Ana amanhã às 10:00 na Clínica Alfa.\n"
        "Responda 1 para confirmar, 2 para remarcar ou 3 para cancelar."
    )
    conversation = Conversation.objects.get(contact=booked.contact)
    assert (conversation.pending_kind, conversation.pending_ref) == ("reminder", str(booked.pk))
    assert _send(_at(MONDAY, 8, 1)) == 1  # the 2-hour one
    assert Reminder.objects.filter(appointment=booked, sent_at__isnull=False).count() == 2


def test_no_reminder_for_a_cancelled_appointment_or_without_consent(booked):
    services.appointment_cancel(appointment=booked)
    assert _send(_at(MONDAY, 9)) == 0
    other = Contact.objects.create(phone="+5511911110000", wa_id="5511911110000", name="Sem", accepts_proactive=False)
    appointment = services.appointment_book(
        service=booked.service,
        professional=booked.professional,
        start=_at(MONDAY, 11),
        patient_name="Sem",
        contact=other,
    )
    assert _send(_at(MONDAY, 9, 1)) == 0
    assert set(Reminder.objects.filter(appointment=appointment).values_list("skipped_reason", flat=True)) == {
        "paciente não aceita mensagens"
    }


def _patient_says(conversation, text):
    message = Message.objects.create(conversation=conversation, direction="in", body=text, status="received")
    conversation_services.conversation_process(conversation_id=conversation.pk, trigger_message_id=message.pk)
    return Message.objects.filter(conversation=conversation, direction="out").order_by("-id").first().body


def _after_reminder(booked):
    _send(_at(MONDAY - timedelta(days=1), 10, 1))
    return Conversation.objects.get(contact=booked.contact)


def test_answer_1_confirms(booked):
    conversation = _after_reminder(booked)
    reply = _patient_says(conversation, "1")
    booked.refresh_from_db()
    assert booked.status == "confirmed"
    assert reply.startswith("Obrigado! Sua consulta de seg")
    assert Conversation.objects.get(pk=conversation.pk).pending_kind == ""


def test_answer_3_then_yes_cancels_and_no_keeps(booked):
    conversation = _after_reminder(booked)
    assert "Responda SIM para cancelar" in _patient_says(conversation, "3")
    assert _patient_says(conversation, "não").startswith("Combinado!")
    booked.refresh_from_db()
    assert booked.status == "scheduled"
    from conversations.pending import pending_question_set

    pending_question_set(conversation=conversation, kind="reminder", ref=booked.pk)
    _patient_says(conversation, "quero cancelar")
    assert _patient_says(conversation, "sim").startswith("Pronto, sua consulta foi cancelada")
    booked.refresh_from_db()
    assert booked.status == "cancelled"


def test_answer_2_offers_free_slots_and_the_choice_reschedules(booked):
    conversation = _after_reminder(booked)
    offer = _patient_says(conversation, "2")
    assert offer.startswith("Tenho estes horários:") and "com Dra. Ana" in offer
    options = Conversation.objects.get(pk=conversation.pk).pending_data["options"]
    assert 2 <= len(options) <= 6
    assert all(datetime.fromisoformat(option) != booked.start for option in options)
    chosen = datetime.fromisoformat(options[1])
    reply = _patient_says(conversation, "2")
    booked.refresh_from_db()
    new = Appointment.objects.get(rescheduled_from=booked)
    assert booked.status == "cancelled" and new.start == chosen and new.status == "scheduled"
    assert reply.startswith("Remarcado!")
    assert new.reminders.count() >= 1  # re-armed


def test_an_answer_never_reaches_another_patients_appointment(booked, agenda_alfa):
    intruder = Contact.objects.create(phone="+5511900000001", wa_id="5511900000001", name="Outro")
    conversation = Conversation.objects.create(contact=intruder)
    from conversations.pending import pending_question_set

    pending_question_set(conversation=conversation, kind="reminder", ref=booked.pk)
    _patient_says(conversation, "3")
    _patient_says(conversation, "sim")
    booked.refresh_from_db()
    assert booked.status == "scheduled"
