"""Project-wide jobs (RQ entry points; they run inside the schema they were queued for)."""

from django.contrib.sessions.models import Session
from django.utils import timezone


def clear_expired_sessions() -> int:
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
