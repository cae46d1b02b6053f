"""Writes of the agenda: book, cancel, reschedule, mark completed / no-show, arm reminders."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from agenda.backend import AgendaError, AppointmentNotActive, SlotUnavailable, get_backend
from agenda.models import Appointment, Professional, Reminder, Service
from agenda.reminders import reminders_arm
from secretaria import metrics


@contextmanager
def _measured(backend_name: str):
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except AgendaError as exc:
        outcome = type(exc).__name__
        raise
    except Exception:
        outcome = "error"
        raise
    finally:
        metrics.AGENDA_REQUESTS.labels(tenant=connection.schema_name, backend=backend_name, outcome=outcome).inc()
        metrics.AGENDA_LATENCY.labels(backend=backend_name).observe(time.perf_counter() - started)


def _count(appointment: Appointment) -> None:
    metrics.APPOINTMENTS.labels(
        tenant=connection.schema_name, status=appointment.status, source=appointment.source
    ).inc()


def appointment_book(
    *,
    service: Service,
    start: datetime,
    patient_name: str,
    professional: Professional | None = None,
    contact=None,
    patient_phone: str = "",
    source: str = Appointment.Source.PAINEL,
    payer: str = Appointment.Payer.PRIVATE,
    insurance_name: str = "",
    insurance_card: str = "",
    notes: str = "",
) -> Appointment:
    """Book `start` (aware) for the patient. Only a slot the agenda offers at this moment is booked.
    Without a professional, the first one free at that time who performs the service."""
    backend = get_backend()
    candidates = [professional] if professional else _professionals_free_at(backend, service, start)
    if not candidates:
        raise SlotUnavailable()
    appointment = Appointment(
        contact=contact,
        patient_name=patient_name.strip()[:200],
        patient_phone=patient_phone,
        professional=candidates[0],
        service=service,
        payer=payer,
        insurance_name=insurance_name,
        insurance_card=insurance_card,
        start=start,
        end=start + timedelta(minutes=service.duration_minutes),
        source=source,
        notes=notes,
    )
    with _measured(backend.name), transaction.atomic():
        backend.book(appointment=appointment)
        reminders_arm(appointment=appointment)
    _count(appointment)
    return appointment


def _professionals_free_at(backend, service: Service, start: datetime) -> list[Professional]:
    day = timezone.localtime(start).date()
    ids = [
        slot.professional_id
        for slot in backend.availability(first_day=day, last_day=day, service_id=service.pk)
        if slot.start == start
    ]
    by_id = Professional.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


def appointment_cancel(*, appointment: Appointment, reason: str = "", source: str = "") -> Appointment:
    if not appointment.is_active:
        raise AppointmentNotActive()
    backend = get_backend()
    with _measured(backend.name), transaction.atomic():
        changed = Appointment.objects.filter(pk=appointment.pk, status__in=Appointment.ACTIVE).update(
            status=Appointment.Status.CANCELLED, cancelled_at=timezone.now(), cancel_reason=reason[:200]
        )
        if not changed:
            raise AppointmentNotActive()
        backend.cancel(appointment=appointment, reason=reason)
        Reminder.objects.filter(appointment=appointment, sent_at=None).update(skipped_reason="consulta cancelada")
    appointment.refresh_from_db()
    metrics.APPOINTMENTS.labels(
        tenant=connection.schema_name, status=appointment.status, source=source or appointment.source
    ).inc()
    return appointment


def appointment_reschedule(
    *, appointment: Appointment, new_start: datetime, professional: Professional | None = None
) -> Appointment:
    """Move an appointment: the old row is kept (cancelled, linked), the new one re-arms the reminders."""
    if not appointment.is_active:
        raise AppointmentNotActive()
    backend = get_backend()
    new = Appointment(
        contact=appointment.contact,
        patient_name=appointment.patient_name,
        patient_phone=appointment.patient_phone,
        professional=professional or appointment.professional,
        service=appointment.service,
        payer=appointment.payer,
        insurance_name=appointment.insurance_name,
        insurance_card=appointment.insurance_card,
        start=new_start,
        end=new_start + timedelta(minutes=appointment.service.duration_minutes),
        source=appointment.source,
        notes=appointment.notes,
        rescheduled_from=appointment,
    )
    with _measured(backend.name), transaction.atomic():
        # Free the old time first: moving 30 minutes later may overlap the appointment itself.
        changed = Appointment.objects.filter(pk=appointment.pk, status__in=Appointment.ACTIVE).update(
            status=Appointment.Status.CANCELLED, cancelled_at=timezone.now(), cancel_reason="remarcada"
        )
        if not changed:
            raise AppointmentNotActive()
        Reminder.objects.filter(appointment=appointment, sent_at=None).update(skipped_reason="consulta remarcada")
        backend.reschedule(old=appointment, new=new)
        reminders_arm(appointment=new)
    _count(new)
    return new


def appointment_mark(*, appointment: Appointment, status: str) -> Appointment:
    """Completed or no-show, once the appointment has ended."""
    if status not in (Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW):
        raise ValueError(f"not a final status: {status}")
    if appointment.end > timezone.now():
        raise AgendaError("A consulta ainda não terminou.")
    changed = Appointment.objects.filter(
        pk=appointment.pk, status__in=[*Appointment.ACTIVE, Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW]
    ).update(status=status)
    if not changed:
        raise AppointmentNotActive()
    appointment.refresh_from_db()
    _count(appointment)
    return appointment


def appointment_confirm(*, appointment: Appointment) -> bool:
    """The patient confirmed (a reminder's "1"). True when it changed."""
    changed = Appointment.objects.filter(pk=appointment.pk, status=Appointment.Status.SCHEDULED).update(
        status=Appointment.Status.CONFIRMED, confirmed_at=timezone.now()
    )
    if changed:
        appointment.refresh_from_db()
        _count(appointment)
    return bool(changed)
