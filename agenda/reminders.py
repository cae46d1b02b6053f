"""Reminders that ask the patient to confirm, reschedule or cancel.

Due work comes from the database (a selector run every minute by the periodic runner and by
`manage.py send_due_reminders`); each reminder is claimed by a conditional UPDATE, so none is
sent twice and none is lost when a worker restarts.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from agenda.models import Appointment, Reminder
from agenda.selectors import agenda_settings
from secretaria import metrics

log = logging.getLogger(__name__)
MIN_LEAD_AFTER_QUIET = timedelta(hours=1)


def _in_quiet(moment: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # spans midnight (21:00-08:00)


def reminder_due_at(
    *, appointment_start: datetime, offset_hours: int, quiet_start: time, quiet_end: time, now: datetime
) -> datetime | None:
    """When to send, or None (already past, or only possible inside quiet hours).

    A reminder falling in quiet hours goes at the last minute before them; if that moment has
    passed, at their end when that is still at least an hour before the appointment; else never.
    """
    due = appointment_start - timedelta(hours=offset_hours)
    if due <= now:
        return None
    tz = timezone.get_current_timezone()
    local = due.astimezone(tz)
    if not _in_quiet(local.time(), quiet_start, quiet_end):
        return due
    began_on: date = local.date()
    if quiet_start > quiet_end and local.time() < quiet_end:
        began_on -= timedelta(days=1)
    quiet_began = datetime.combine(began_on, quiet_start, tzinfo=tz)
    before = quiet_began - timedelta(minutes=1)
    if before > now:
        return before
    ends_on = began_on + timedelta(days=1) if quiet_start > quiet_end else began_on
    quiet_ended = datetime.combine(ends_on, quiet_end, tzinfo=tz)
    if now < quiet_ended <= appointment_start - MIN_LEAD_AFTER_QUIET:
        return quiet_ended
    return None


def reminders_arm(*, appointment: Appointment, now: datetime | None = None) -> list[Reminder]:
    """One reminder per configured offset; offsets past at booking time are skipped."""
    now = now or timezone.now()
    settings_row = agenda_settings()
    created = []
    for hours in sorted({int(h) for h in settings_row.reminder_offsets_hours or [] if int(h) > 0}, reverse=True):
        if appointment.start - timedelta(hours=hours) <= now:
            continue
        due = reminder_due_at(
            appointment_start=appointment.start,
            offset_hours=hours,
            quiet_start=settings_row.quiet_hours_start,
            quiet_end=settings_row.quiet_hours_end,
            now=now,
        )
        reminder, made = Reminder.objects.get_or_create(
            appointment=appointment,
            offset_hours=hours,
            defaults={
                "due_at": due or appointment.start - timedelta(hours=hours),
                "skipped_reason": "" if due else "cairia no horário de silêncio",
            },
        )
        if made:
            created.append(reminder)
    return created


def reminders_due(*, now: datetime | None = None):
    now = now or timezone.now()
    return (
        Reminder.objects.filter(sent_at=None, skipped_reason="", due_at__lte=now)
        .filter(appointment__status__in=Appointment.ACTIVE, appointment__start__gt=now)
        .select_related("appointment__professional", "appointment__service", "appointment__contact")
        .order_by("due_at")
    )


def reminders_overdue_count(*, now: datetime | None = None, grace: timedelta = timedelta(minutes=10)) -> int:
    now = now or timezone.now()
    return reminders_due(now=now - grace).count()


def _contact_for(appointment: Appointment):
    from conversations.models import Contact
    from conversations.parsing import normalize_phone

    if appointment.contact_id:
        return appointment.contact
    phone, digits = normalize_phone(appointment.patient_phone)
    if not phone:
        return None
    contact, _ = Contact.objects.get_or_create(
        phone=phone, defaults={"wa_id": digits, "name": appointment.patient_name}
    )
    Appointment.objects.filter(pk=appointment.pk).update(contact=contact)
    return contact


def reminder_text(appointment: Appointment, *, now: datetime | None = None) -> str:
    local = timezone.localtime(appointment.start)
    today = timezone.localtime(now or timezone.now()).date()
    if local.date() == today:
        when = "hoje"
    elif local.date() == today + timedelta(days=1):
        when = "amanhã"
    else:
        when = f"no dia {local:%d/%m}"
    clinic = getattr(connection, "tenant", None)
    return render_to_string(
        "messages/reminder.txt",
        {
            "name": appointment.patient_name.split(" ")[0],
            "service": appointment.service.name,
            "professional": appointment.professional.name,
            "when": when,
            "time": f"{local:%H:%M}",
            "clinic": getattr(clinic, "name", ""),
        },
    ).strip()


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Send every due reminder once. Returns how many went to the send queue."""
    from conversations.models import Conversation
    from conversations.pending import pending_question_set
    from conversations.services import outbound_queue

    now = now or timezone.now()
    sent = 0
    for reminder in list(reminders_due(now=now)[:500]):
        appointment = reminder.appointment
        with transaction.atomic():
            contact = _contact_for(appointment)
            reason = ""
            if contact is None or not contact.reply_number:
                reason = "sem WhatsApp do paciente"
            elif not contact.accepts_proactive:
                reason = "paciente não aceita mensagens"
            if reason:
                Reminder.objects.filter(pk=reminder.pk, sent_at=None).update(skipped_reason=reason)
                continue
            if not Reminder.objects.filter(pk=reminder.pk, sent_at=None, skipped_reason="").update(sent_at=now):
                continue  # another runner claimed it
            conversation, _ = Conversation.objects.get_or_create(contact=contact)
            outbound_queue(conversation=conversation, body=reminder_text(appointment, now=now), kind="reminder")
            pending_question_set(
                conversation=conversation,
                kind="reminder",
                ref=appointment.pk,
                ttl=max(timedelta(minutes=30), appointment.start - now),
            )
        sent += 1
        metrics.REMINDERS_SENT.labels(tenant=connection.schema_name).inc()
    metrics.REMINDERS_OVERDUE.labels(tenant=connection.schema_name).set(reminders_overdue_count(now=now))
    return sent
