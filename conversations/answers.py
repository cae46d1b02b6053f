"""What the patient's next answer means, read against the conversation's pending question.

A reminder's "1/2/3", a cancellation's "sim/não", a choice among offered slots. The agenda and
the follow-ups ask (they set the pending question); only this module reads the answers.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from conversations import wording
from conversations.llm import nlu
from conversations.models import Conversation
from conversations.pending import pending_question_clear, pending_question_get, pending_question_set
from secretaria import metrics


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    without = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[^\w\s]", " ", without).strip()


def _reminder_choice(text: str) -> str | None:
    plain = _plain(text)
    match = re.match(r"^(\d)\b", plain)
    if match and match.group(1) in "123":
        return match.group(1)
    if re.search(r"\b(confirm\w*|vou sim|estarei|sim)\b", plain):
        return "1"
    if re.search(r"\b(remarc\w*|mudar|trocar|outro horario|adiar)\b", plain):
        return "2"
    if re.search(r"\b(cancel\w*|desmarc\w*|nao vou)\b", plain):
        return "3"
    return None


def _when(moment) -> str:
    from conversations.tools import when_label

    return when_label(moment)


def _own_appointment(conversation: Conversation, ref: str):
    from agenda.models import Appointment

    if not ref.isdigit():
        return None
    # Only this contact's appointments: an answer can never reach another patient's.
    return (
        Appointment.objects.select_related("professional", "service")
        .filter(pk=int(ref), contact_id=conversation.contact_id)
        .first()
    )


_COUNTS = re.compile(r"\b\d+\s*(anos?|pessoas?|meses|mes|filhos?|criancas?|semanas?|dias|minutos?|min)\b")


def _chosen(question, text: str, starts: list) -> int | None:
    """Which offered time the patient took: by number, weekday or time; "sim" takes the time
    they had asked for when it was free (offered first). A question, a count ("ele tem 3 anos",
    "pra 2 pessoas") or a time that is not the option's ("às 10h" when 10:30 is offered) is not
    a choice: the engine answers it."""
    plain = nlu.plain(text)
    if _COUNTS.search(plain) or ("?" in text and len(plain.split()) > 5):
        return None
    index = nlu.choose_option(text, starts, today=timezone.localdate())
    if index is None and question.data.get("first_asked") and nlu.yes_no(text) is True:
        return 0
    if index is not None:
        when = nlu.parse_when(text, today=timezone.localdate())
        if when is not None and when.time is not None and timezone.localtime(starts[index]).time() != when.time:
            return None
    return index


def _count(answer: str) -> None:
    metrics.REMINDER_ANSWERS.labels(tenant=connection.schema_name, answer=answer).inc()


def _offer_slots(conversation: Conversation, appointment) -> str:
    """New times for an existing appointment; the patient's pick moves it (slot_choice)."""
    from conversations.tools import Toolbox

    today = timezone.localdate()
    result = Toolbox(conversation=conversation)._check_availability(
        {
            "date_from": today.isoformat(),
            "date_to": (today + timedelta(days=14)).isoformat(),
            "appointment_id": appointment.pk,
        }
    )
    if not result.get("options") and not result.get("next_available"):
        pending_question_clear(conversation=conversation)
    return wording.offer_text(result, rescheduling=True)


def answer_pending(*, conversation: Conversation, texts: list[str]) -> str | None:
    """The reply to an answer of the pending question, or None when the text does not answer it."""
    from agenda import services as agenda
    from agenda.backend import AgendaError

    question = pending_question_get(conversation=conversation)
    if question is None or not texts:
        return None
    text = texts[-1]
    if question.kind in FREE_KINDS:
        return FREE_KINDS[question.kind](conversation, question, text)
    if question.kind in ENGINE_KINDS:
        return None  # the dialogue engine reads these itself
    appointment = _own_appointment(conversation, question.ref)
    if appointment is None or not appointment.is_active:
        pending_question_clear(conversation=conversation)
        return None

    if question.kind == "reminder":
        choice = _reminder_choice(text)
        if choice == "1":
            agenda.appointment_confirm(appointment=appointment)
            pending_question_clear(conversation=conversation)
            _count("confirm")
            when, who = _when(appointment.start), appointment.professional.name
            return f"Obrigado! Sua consulta de {when} com {who} está confirmada."
        if choice == "2":
            _count("reschedule")
            return _offer_slots(conversation, appointment)
        if choice == "3":
            _count("cancel")
            pending_question_set(
                conversation=conversation, kind="cancel_confirm", ref=appointment.pk, ttl=timedelta(hours=12)
            )
            return (
                f"Confirma o cancelamento da consulta de {_when(appointment.start)}? "
                "Responda SIM para cancelar ou NÃO para manter."
            )
        return None

    if question.kind == "cancel_confirm":
        decision = nlu.yes_no(text)
        if decision is True:
            agenda.appointment_cancel(
                appointment=appointment, reason="cancelada pelo paciente (WhatsApp)", source="whatsapp"
            )
            pending_question_clear(conversation=conversation)
            return "Pronto, sua consulta foi cancelada. Quando quiser marcar outro horário, é só me chamar."
        if decision is False:
            pending_question_clear(conversation=conversation)
            _count("cancel_kept")
            return f"Combinado! Sua consulta de {_when(appointment.start)} continua marcada."
        return None

    if question.kind == "slot_choice":
        options = [datetime.fromisoformat(option) for option in question.data.get("options", [])]
        index = _chosen(question, text, [timezone.localtime(option) for option in options])
        if index is None:
            return None
        chosen = options[index]
        try:
            new = agenda.appointment_reschedule(appointment=appointment, new_start=chosen)
        except AgendaError as exc:
            return f"{exc.detail} " + _offer_slots(conversation, appointment)
        pending_question_clear(conversation=conversation)
        return f"Remarcado! Sua consulta agora é {_when(new.start)} com {new.professional.name}."
    return None


# --- questions not bound to an existing appointment -----------------------------------------


def _toolbox(conversation: Conversation):
    from conversations.tools import Toolbox

    return Toolbox(conversation=conversation)


def _answer_slot_offer(conversation: Conversation, question, text: str) -> str | None:
    """The patient picked one of the offered times for a new booking."""
    from agenda.models import Professional, Service

    options = question.data.get("options", [])
    starts = [timezone.localtime(datetime.fromisoformat(option["start"])) for option in options]
    index = _chosen(question, text, starts)
    if index is None:
        return None
    option = options[index]
    service = Service.objects.filter(pk=option["service_id"], active=True).first()
    if service is None:
        pending_question_clear(conversation=conversation)
        return None
    result = _toolbox(conversation).book(
        start=datetime.fromisoformat(option["start"]),
        service=service,
        professional=Professional.objects.filter(pk=option["professional_id"]).first(),
        name=nlu.extract_person_name(text) or "",
        ask_name=_booking_for_someone_else(conversation),
    )
    metrics.INTENTS.labels(tenant=connection.schema_name, intent="book").inc()
    return wording.booked_text(result)


def _booking_for_someone_else(conversation: Conversation) -> bool:
    """Did the patient say, in the last messages, that the visit is for a child or relative?
    Then the WhatsApp name is not the patient's: ask for it."""
    from conversations.models import Message

    recent = (
        Message.objects.filter(
            conversation=conversation,
            direction=Message.Direction.IN,
            created_at__gte=timezone.now() - timedelta(hours=2),
        )
        .order_by("-created_at")
        .values_list("body", flat=True)[:4]
    )
    for body in recent:  # newest first: the latest word on who the visit is for wins
        if nlu.for_myself(body):
            return False
        if nlu.for_someone_else(body):
            return True
    return False


def _answer_patient_name(conversation: Conversation, question, text: str) -> str | None:
    from agenda.models import Professional, Service

    name = nlu.extract_person_name(text)
    if not name:
        return None
    data = question.data
    service = Service.objects.filter(pk=data.get("service_id"), active=True).first()
    if service is None:
        pending_question_clear(conversation=conversation)
        return None
    result = _toolbox(conversation).book(
        start=datetime.fromisoformat(data["start"]),
        service=service,
        professional=Professional.objects.filter(pk=data.get("professional_id")).first(),
        name=name,
    )
    metrics.INTENTS.labels(tenant=connection.schema_name, intent="book").inc()
    return wording.booked_text(result)


def _answer_appointment_choice(conversation: Conversation, question, text: str) -> str | None:
    """Which of the patient's appointments to cancel or reschedule."""
    from agenda.models import Appointment

    ids = question.data.get("options", [])
    rows = {
        row.pk: row
        for row in Appointment.objects.filter(pk__in=ids, contact_id=conversation.contact_id).select_related(
            "professional", "service"
        )
    }
    choices = [rows[i] for i in ids if i in rows]
    index = nlu.choose_option(text, [timezone.localtime(row.start) for row in choices], today=timezone.localdate())
    if index is None:
        return None
    appointment = choices[index]
    if not appointment.is_active:
        pending_question_clear(conversation=conversation)
        return "Essa consulta não está mais ativa."
    if question.data.get("action") == "cancel":
        pending_question_set(
            conversation=conversation, kind="cancel_confirm", ref=appointment.pk, ttl=timedelta(hours=12)
        )
        return (
            f"Confirma o cancelamento da consulta de {_when(appointment.start)}? "
            "Responda SIM para cancelar ou NÃO para manter."
        )
    return _offer_slots(conversation, appointment)


ENGINE_KINDS = {"booking_draft"}  # a half-made request the local engine completes
FREE_KINDS = {
    "slot_offer": _answer_slot_offer,
    "patient_name": _answer_patient_name,
    "appointment_choice": _answer_appointment_choice,
}
