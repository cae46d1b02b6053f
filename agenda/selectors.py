"""Reads of the agenda."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from agenda.models import AgendaSettings, Appointment


def agenda_settings() -> AgendaSettings:
    """The clinic's agenda settings row (created with defaults on first use)."""
    row = AgendaSettings.objects.first()
    if row is None:
        row = AgendaSettings.objects.create(backend=settings.AGENDA_BACKEND, reminder_offsets_hours=[24, 2])
    return row


def appointments_overlapping(*, professional_ids: list[int], start: datetime, end: datetime) -> dict[int, list]:
    """Active appointments of these professionals touching [start, end), per professional, sorted."""
    rows = (
        Appointment.objects.filter(
            professional_id__in=professional_ids, status__in=Appointment.ACTIVE, start__lt=end, end__gt=start
        )
        .order_by("start")
        .values_list("professional_id", "start", "end")
    )
    busy: dict[int, list] = {pid: [] for pid in professional_ids}
    for professional_id, appt_start, appt_end in rows:
        busy[professional_id].append((appt_start, appt_end))
    return busy


def appointments_list(*, date_from=None, date_to=None, status=None, professional=None, limit: int = 500):
    """Appointments of the clinic, oldest first, filtered by local dates, status and professional."""
    from datetime import time, timedelta

    from django.utils import timezone

    tz = timezone.get_current_timezone()
    rows = Appointment.objects.select_related("professional", "service").order_by("start")
    if date_from:
        rows = rows.filter(start__gte=datetime.combine(date_from, time.min, tzinfo=tz))
    if date_to:
        rows = rows.filter(start__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz))
    if status:
        rows = rows.filter(status=status)
    if professional:
        rows = rows.filter(professional_id=professional)
    return list(rows[:limit])
