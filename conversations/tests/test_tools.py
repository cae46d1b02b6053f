"""The tools the secretary calls: validated arguments, slots re-checked, the contact fixed."""

from datetime import datetime, time

import pytest
from django.db import connection
from django.utils import timezone

from agenda.models import Appointment
from agenda.services import appointment_book
from agenda.tests.conftest import MONDAY, build_agenda
from conversations.llm.base import ToolCall
from conversations.pending import pending_question_get
from conversations.tests.conftest import make_conversation
from conversations.tools import SPECS, Toolbox


def at(hour, minute=0, day=MONDAY):
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def call(toolbox, name, **arguments):
    return toolbox.run(ToolCall(id="t1", name=name, arguments=arguments))


@pytest.fixture
def agenda(in_alfa):
    return build_agenda()


@pytest.fixture
def toolbox(agenda):
    return Toolbox(conversation=make_conversation())


def test_every_tool_has_a_json_schema_and_none_takes_a_patient():
    for spec in SPECS:
        assert spec.parameters["type"] == "object"
        assert not {"phone", "contact", "contact_id", "patient_id"} & set(spec.parameters["properties"])


def test_availability_numbers_options_and_remembers_them(toolbox):
    result = call(toolbox, "check_availability", date_from=MONDAY.isoformat(), date_to=MONDAY.isoformat())
    assert [o["option"] for o in result["options"]] == list(range(1, len(result["options"]) + 1))
    assert result["service"] == "Consulta"
    question = pending_question_get(conversation=toolbox.conversation)
    assert question.kind == "slot_offer"
    assert [datetime.fromisoformat(o["start"]) for o in question.data["options"]] == [
        datetime.fromisoformat(o["start"]) for o in result["options"]
    ]


def test_a_free_asked_time_is_offered_first(toolbox):
    result = call(toolbox, "check_availability", date_from=MONDAY.isoformat(), date_to=MONDAY.isoformat(), time="15:00")
    assert result["requested_time_free"] is True
    assert datetime.fromisoformat(result["options"][0]["start"]) == at(15)


def test_booking_rechecks_the_slot_and_offers_alternatives(toolbox, agenda):
    other = make_conversation(phone="+5511911112222", name="Joana")
    for professional in (agenda["ana"], agenda["bruno"]):
        appointment_book(
            service=agenda["consulta"], start=at(10), professional=professional, patient_name="x", contact=other.contact
        )
    result = call(toolbox, "book_appointment", slot_start=at(10).isoformat(), patient_name="Maria Souza")
    assert result["error"] == "slot_not_available"
    assert result["alternatives"] and all(at(10) != datetime.fromisoformat(a["start"]) for a in result["alternatives"])
    assert not Appointment.objects.filter(contact=toolbox.contact).exists()


def test_booking_books_for_the_conversations_contact(toolbox):
    result = call(toolbox, "book_appointment", slot_start=at(9).isoformat(), patient_name="Maria Souza")
    assert result["status"] == "booked"
    appointment = Appointment.objects.get(pk=result["appointment_id"])
    assert appointment.contact == toolbox.contact and appointment.source == "whatsapp"
    again = call(toolbox, "book_appointment", slot_start=at(9).isoformat(), patient_name="Maria Souza")
    assert again["status"] == "already_booked"
    assert Appointment.objects.filter(contact=toolbox.contact).count() == 1


@pytest.mark.parametrize(
    "arguments",
    [
        {"slot_start": "amanhã às 10"},
        {"slot_start": 1700000000},
        {},
        {"slot_start": "2026-13-45T10:00"},
    ],
)
def test_invalid_arguments_come_back_as_errors(toolbox, arguments):
    result = call(toolbox, "book_appointment", **arguments)
    assert result["error"] == "invalid_arguments" and result["detail"]


def test_unknown_tools_and_non_objects_come_back_as_errors(toolbox):
    assert call(toolbox, "drop_database")["error"] == "unknown_tool"
    assert toolbox.run(ToolCall(id="x", name="clinic_info", arguments=None))["error"] == "invalid_arguments"
    assert call(toolbox, "check_availability", date_from="2020-01-01", date_to="2020-01-02")["error"] == "date_in_past"
    assert (
        call(
            toolbox, "check_availability", date_from=MONDAY.isoformat(), date_to=MONDAY.isoformat(), service="Cirurgia"
        )["error"]
        == "invalid_arguments"
    )


def test_another_patients_appointment_cannot_be_seen_cancelled_or_moved(toolbox, agenda):
    other = make_conversation(phone="+5511911112222", name="Joana")
    theirs = appointment_book(
        service=agenda["consulta"],
        start=at(11),
        professional=agenda["ana"],
        patient_name="Joana",
        contact=other.contact,
    )
    assert call(toolbox, "list_my_appointments") == {"appointments": []}
    assert call(toolbox, "cancel_appointment", appointment_id=theirs.pk)["error"] == "appointment_not_found"
    moved = call(toolbox, "reschedule_appointment", appointment_id=theirs.pk, new_start=at(14).isoformat())
    assert moved["error"] == "appointment_not_found"
    assert (
        call(
            toolbox,
            "check_availability",
            date_from=MONDAY.isoformat(),
            date_to=MONDAY.isoformat(),
            appointment_id=theirs.pk,
        )["error"]
        == "appointment_not_found"
    )
    theirs.refresh_from_db()
    assert theirs.status == "scheduled" and theirs.start == at(11)


def test_cancelling_only_asks_for_a_yes(toolbox, agenda):
    mine = appointment_book(
        service=agenda["consulta"], start=at(11), professional=agenda["ana"], patient_name="M", contact=toolbox.contact
    )
    result = call(toolbox, "cancel_appointment", appointment_id=mine.pk)
    assert result["status"] == "confirmation_required" and "SIM" in result["ask"]
    mine.refresh_from_db()
    assert mine.status == "scheduled"
    question = pending_question_get(conversation=toolbox.conversation)
    assert (question.kind, question.ref) == ("cancel_confirm", str(mine.pk))


def test_another_clinics_appointments_are_invisible(toolbox, agenda, clinics):
    connection.set_tenant(clinics.beta)
    beta = build_agenda()
    beta_conversation = make_conversation()  # the same phone number, in clinic beta
    theirs = appointment_book(
        service=beta["consulta"],
        start=at(11),
        professional=beta["ana"],
        patient_name="M",
        contact=beta_conversation.contact,
    )
    connection.set_tenant(clinics.alfa)
    assert call(toolbox, "list_my_appointments") == {"appointments": []}
    assert call(toolbox, "cancel_appointment", appointment_id=theirs.pk)["error"] == "appointment_not_found"


def test_handoff_reason_is_one_of_a_fixed_set(toolbox):
    call(toolbox, "handoff_to_human", reason="quero um humano agora!!!")
    assert toolbox.handoff_reason == "other"
    call(toolbox, "handoff_to_human", reason="medical_question")
    assert toolbox.handoff_reason == "medical_question"
