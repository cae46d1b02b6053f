"""What the patient's next answer means, read against the conversation's pending question.

A reminder's "1/2/3", a cancellation's "sim/não", a choice among offered slots. The agenda and
the follow-ups ask (they set the pending question); only this module reads the answers.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from conversations.models import Conversation
from conversations.pending import pending_question_clear, pending_question_get, pending_question_set
from secretaria import metrics

WEEKDAY_SHORT = ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"]
_YES = {"sim", "s", "ss", "isso", "pode", "pode sim", "confirmo", "claro", "com certeza", "quero", "ok", "certo"}
_NO = {"nao", "n", "nao quero", "deixa", "melhor nao", "mantem", "manter", "nao cancela"}


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


def _yes_no(text: str) -> bool | None:
    plain = _plain(text)
    if plain in _YES or plain.startswith(("sim", "pode cancelar", "cancela")):
        return True
    if plain in _NO or plain.startswith(("nao", "não")):
        return False
    return None


def _when(moment) -> str:
    local = timezone.localtime(moment)
    return f"{WEEKDAY_SHORT[local.weekday()]} {local:%d/%m} às {local:%H:%M}"


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


def _count(answer: str) -> None:
    metrics.REMINDER_ANSWERS.labels(tenant=connection.schema_name, answer=answer).inc()


def _offer_slots(conversation: Conversation, appointment) -> str:
    from agenda.backend import AgendaError, get_backend

    today = timezone.localdate()
    try:
        slots = get_backend().availability(
            first_day=today,
            last_day=today + timedelta(days=14),
            service_id=appointment.service_id,
            professional_id=appointment.professional_id,
        )
    except AgendaError as exc:
        return exc.detail
    options = [slot.start for slot in slots if slot.start != appointment.start][:3]
    if not options:
        pending_question_clear(conversation=conversation)
        return "Não encontrei horários livres nos próximos dias. Vou pedir para a equipe falar com você."
    pending_question_set(
        conversation=conversation,
        kind="slot_choice",
        ref=appointment.pk,
        data={"options": [option.isoformat() for option in options]},
        ttl=timedelta(hours=12),
    )
    lines = [f"{index}) {_when(option)}" for index, option in enumerate(options, 1)]
    return "Tenho estes horários com {}:\n{}\nResponda com o número do horário que prefere.".format(
        appointment.professional.name, "\n".join(lines)
    )


def answer_pending(*, conversation: Conversation, texts: list[str]) -> str | None:
    """The reply to an answer of the pending question, or None when the text does not answer it."""
    from agenda import services as agenda
    from agenda.backend import AgendaError

    question = pending_question_get(conversation=conversation)
    if question is None or not texts:
        return None
    text = texts[-1]
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
        decision = _yes_no(text)
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
        match = re.match(r"^\s*(\d)\b", _plain(text))
        options = question.data.get("options", [])
        if not match or not 1 <= int(match.group(1)) <= len(options):
            return None
        from datetime import datetime

        chosen = datetime.fromisoformat(options[int(match.group(1)) - 1])
        try:
            new = agenda.appointment_reschedule(appointment=appointment, new_start=chosen)
        except AgendaError as exc:
            return f"{exc.detail} " + _offer_slots(conversation, appointment)
        pending_question_clear(conversation=conversation)
        return f"Remarcado! Sua consulta agora é {_when(new.start)} com {new.professional.name}."
    return None
