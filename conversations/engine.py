"""The reply engine: what the secretary answers to a patient's burst of messages.

One function, `reply_for`, called by the processing job. It first reads the conversation's
pending question (a reminder's "1", a cancellation's "sim"); until the dialogue engine lands
it otherwise acknowledges in pt-BR, asks for text when only media came, and hands off on request.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.db import connection
from django.template.loader import render_to_string

from conversations.models import Conversation, Message

_PERSON = re.compile(r"\b(atendente|humano|humana|pessoa|recepcionista|falar com alguem|secretaria de verdade)\b")


@dataclass(frozen=True)
class EngineReply:
    text: str = ""
    handoff_reason: str = ""  # set: hand the conversation to a person


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def asks_for_person(texts: list[str]) -> bool:
    return any(_PERSON.search(_plain(text)) for text in texts)


STOPPED = (
    "Pronto, você não vai mais receber lembretes nem mensagens de acompanhamento. "
    "Se mudar de ideia, é só enviar VOLTAR."
)
RESUMED = "Combinado! Você voltará a receber lembretes das suas consultas. Para parar, envie PARAR."


def _with_privacy_notice(conversation: Conversation, reply: EngineReply) -> EngineReply:
    """The first reply to a new contact carries a one-line privacy notice (LGPD)."""
    if not reply.text or Message.objects.filter(conversation=conversation, direction=Message.Direction.OUT).exists():
        return reply
    clinic = getattr(connection, "tenant", None)
    notice = render_to_string("messages/privacy_notice.txt", {"clinic": getattr(clinic, "name", "clínica")}).strip()
    return EngineReply(text=f"{reply.text}\n\n{notice}", handoff_reason=reply.handoff_reason)


def reply_for(*, conversation: Conversation, messages: list[Message]) -> EngineReply:
    return _with_privacy_notice(conversation, _reply(conversation, messages))


def _reply(conversation: Conversation, messages: list[Message]) -> EngineReply:
    texts = [message.body for message in messages if message.body]
    from conversations.answers import answer_pending
    from conversations.consent import consent_command, contact_consent_set

    command = consent_command(texts[-1]) if texts else None
    if command is not None:
        contact_consent_set(contact=conversation.contact, accepts=command, source="whatsapp")
        return EngineReply(text=RESUMED if command else STOPPED)
    answered = answer_pending(conversation=conversation, texts=texts)
    if answered:
        return EngineReply(text=answered)
    if asks_for_person(texts):
        return EngineReply(handoff_reason="patient_asked")
    if not texts:
        kind = messages[-1].media_kind if messages else "document"
        return EngineReply(text=render_to_string("messages/ask_for_text.txt", {"kind": kind}).strip())
    clinic = getattr(connection, "tenant", None)
    name = (conversation.contact.name or "").split(" ")[0]
    context = {"name": name, "clinic": getattr(clinic, "name", "clínica")}
    return EngineReply(text=render_to_string("messages/ack.txt", context).strip())
