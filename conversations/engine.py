"""The reply engine: what the secretary answers to a patient's burst of messages.

One function, `reply_for`, called by the processing job. Consent commands (PARAR/VOLTAR) and
answers to the conversation's pending question (a reminder's "1", a cancellation's "sim", "a
segunda opção") are settled here deterministically; a request for a person hands off; media
alone asks for text; everything else goes to the dialogue engine (`dialogue.dialogue_reply`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.db import connection
from django.template.loader import render_to_string

from conversations.models import Conversation, Message
from secretaria import metrics

_PERSON = re.compile(r"\b(atendente|humano|humana|pessoa|recepcionista|falar com alguem|secretaria de verdade)\b")


@dataclass(frozen=True)
class EngineReply:
    text: str = ""
    handoff_reason: str = ""  # set: hand the conversation to a person
    intent: str = ""


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
    if reply.intent == "consent" or reply.handoff_reason == "emergency":
        return reply  # not after "PARAR", and nothing between "ligue 192" and the transfer
    if not reply.text or Message.objects.filter(conversation=conversation, direction=Message.Direction.OUT).exists():
        return reply
    from conversations.persona import privacy_notice

    return EngineReply(
        text=f"{reply.text}\n\n{privacy_notice()}", handoff_reason=reply.handoff_reason, intent=reply.intent
    )


def reply_for(*, conversation: Conversation, messages: list[Message]) -> EngineReply:
    reply = _reply(conversation, messages)
    if reply.intent:
        metrics.INTENTS.labels(tenant=connection.schema_name, intent=reply.intent).inc()
    return _with_privacy_notice(conversation, reply)


def _reply(conversation: Conversation, messages: list[Message]) -> EngineReply:
    texts = [message.body for message in messages if message.body]
    from conversations.answers import answer_pending
    from conversations.consent import consent_command, contact_consent_set

    command = consent_command(texts[-1]) if texts else None
    if command is not None:
        contact_consent_set(contact=conversation.contact, accepts=command, source="whatsapp")
        return EngineReply(text=RESUMED if command else STOPPED, intent="consent")
    answered = answer_pending(conversation=conversation, texts=texts)
    if answered:
        return EngineReply(text=answered, intent="pending_answer")
    if asks_for_person(texts):
        return EngineReply(handoff_reason="patient_asked", intent="human")
    if not texts:
        kind = messages[-1].media_kind if messages else "document"
        return EngineReply(text=render_to_string("messages/ask_for_text.txt", {"kind": kind}).strip(), intent="media")
    from conversations.dialogue import dialogue_reply

    # The dialogue engine counts its own intent (it knows which engine understood what).
    reply = dialogue_reply(conversation=conversation, messages=messages)
    return EngineReply(text=reply.text, handoff_reason=reply.handoff_reason)
