"""The conversation's one pending question: what a patient's next "1", "sim" or "não" answers.

Whoever asks (reminders, follow-ups, the dialogue engine) sets it; the engine reads it first
when the next message comes. One question at a time: asking a new one replaces the old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from conversations.models import Conversation

DEFAULT_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class PendingQuestion:
    kind: str  # e.g. "reminder", "cancel_confirm", "slot_choice", "followup"
    ref: str  # the row it is about, e.g. an appointment id
    data: dict = field(default_factory=dict)
    expires_at: datetime | None = None


def pending_question_set(
    *,
    conversation: Conversation,
    kind: str,
    ref: str | int = "",
    data: dict | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> PendingQuestion:
    expires_at = timezone.now() + ttl
    Conversation.objects.filter(pk=conversation.pk).update(
        pending_kind=kind, pending_ref=str(ref), pending_data=data or {}, pending_expires_at=expires_at
    )
    conversation.pending_kind, conversation.pending_ref = kind, str(ref)
    conversation.pending_data, conversation.pending_expires_at = data or {}, expires_at
    return PendingQuestion(kind=kind, ref=str(ref), data=data or {}, expires_at=expires_at)


def pending_question_get(*, conversation: Conversation, now: datetime | None = None) -> PendingQuestion | None:
    """The question still waiting for an answer, or None (none asked, or expired)."""
    if not conversation.pending_kind:
        return None
    if conversation.pending_expires_at and conversation.pending_expires_at <= (now or timezone.now()):
        return None
    return PendingQuestion(
        kind=conversation.pending_kind,
        ref=conversation.pending_ref,
        data=conversation.pending_data or {},
        expires_at=conversation.pending_expires_at,
    )


def pending_question_clear(*, conversation: Conversation, kind: str | None = None) -> bool:
    """Clear the question (only if it is still of `kind`, when given). True when cleared."""
    queryset = Conversation.objects.filter(pk=conversation.pk)
    if kind is not None:
        queryset = queryset.filter(pending_kind=kind)
    cleared = queryset.update(pending_kind="", pending_ref="", pending_data={}, pending_expires_at=None) == 1
    if cleared:
        conversation.pending_kind, conversation.pending_ref = "", ""
        conversation.pending_data, conversation.pending_expires_at = {}, None
    return cleared
