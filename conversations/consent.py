"""Consent to proactive messages (reminders, follow-ups): "PARAR"/"SAIR" and "VOLTAR"."""

from __future__ import annotations

import unicodedata

from django.utils import timezone

from conversations.models import Contact

STOP_WORDS = {"parar", "sair", "pare", "stop", "cancelar lembretes"}
RESUME_WORDS = {"voltar", "volta", "voltar a receber"}


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).strip(" .!")


def consent_command(text: str) -> bool | None:
    """False for a stop word, True for a resume word, None for anything else."""
    plain = _plain(text)
    if plain in STOP_WORDS:
        return False
    if plain in RESUME_WORDS:
        return True
    return None


def contact_consent_set(*, contact: Contact, accepts: bool, source: str) -> bool:
    """Record the patient's choice with its source and time. True when it changed."""
    changed = (
        Contact.objects.filter(pk=contact.pk)
        .exclude(accepts_proactive=accepts)
        .update(accepts_proactive=accepts, consent_updated_at=timezone.now(), consent_source=source[:40])
    )
    contact.accepts_proactive = accepts
    return bool(changed)
