"""Cal.com webhooks: verify, store, and keep Appointment rows in step with Cal.com's bookings.

Deliveries are stored first (repeats dropped by the body's hash) and processed in a job; each
change is idempotent per booking uid, so duplicates and out-of-order arrival are harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agenda import calcom
from agenda.calcom_backend import calcom_config, slots_cache_invalidate
from agenda.models import Appointment, CalcomDelivery, CalcomEventType
from agenda.selectors import agenda_settings
from secretaria import metrics
from secretaria.queue import enqueue

log = logging.getLogger(__name__)
HANDLED = {
    "BOOKING_CREATED",
    "BOOKING_REQUESTED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_NO_SHOW_UPDATED",
    "MEETING_ENDED",
}


class CalcomSignatureError(Exception):
    pass


def webhook_secret() -> str:
    return agenda_settings().calcom_webhook_secret or settings.CALCOM_WEBHOOK_SECRET


def signature_verify(*, raw_body: bytes, given: str) -> None:
    """X-Cal-Signature-256: lower-case hex HMAC-SHA256 of the exact body with the clinic's secret."""
    secret = webhook_secret()
    if not secret:
        raise CalcomSignatureError("Segredo do webhook do Cal.com não configurado nesta clínica.")
    if not given or given == "no-secret-provided":
        raise CalcomSignatureError("O webhook do Cal.com foi criado sem segredo.")
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower(), expected):
        raise CalcomSignatureError("Assinatura inválida.")


def delivery_store(*, raw_body: bytes, body: dict) -> tuple[CalcomDelivery | None, bool]:
    """(delivery, created). A repeat of the same body is not stored again."""
    digest = hashlib.sha256(raw_body).hexdigest()
    try:
        with transaction.atomic():
            delivery = CalcomDelivery.objects.create(
                body_sha256=digest, trigger=str(body.get("triggerEvent", ""))[:60], body=body
            )
    except IntegrityError:
        return None, False
    enqueue("agenda.jobs.process_calcom_delivery", delivery.pk)
    return delivery, True


def _payload(body: dict) -> dict:
    return body if body.get("triggerEvent", "").startswith("MEETING_") else (body.get("payload") or {})


def _pair_for(event_type_id) -> CalcomEventType | None:
    return CalcomEventType.objects.select_related("professional", "service").filter(event_type_id=event_type_id).first()


def _contact_for(phone: str):
    from conversations.models import Contact
    from conversations.parsing import normalize_phone

    e164, digits = normalize_phone(phone)
    if not e164:
        return None
    contact, _ = Contact.objects.get_or_create(phone=e164, defaults={"wa_id": digits})
    return contact


def _adopt(payload: dict, *, confirmed: bool = False) -> str:
    """A booking made directly in Cal.com (or whose create we did not see) becomes an Appointment.
    `confirmed`: Cal.com just listed it as active, so it need not be asked again."""
    uid = payload.get("uid")
    metadata = payload.get("metadata") or {}
    if metadata.get("tenant") == connection.schema_name and str(metadata.get("appointmentId", "")).isdigit():
        if Appointment.objects.filter(pk=int(metadata["appointmentId"]), external_uid__isnull=True).update(
            external_uid=uid
        ):
            return "linked"
    config = calcom_config(agenda_settings())
    if not confirmed and config.configured:
        # Out of order (the cancel may already have come): trust Cal.com's current state.
        try:
            if calcom.booking_get(config, uid=uid).status not in ("accepted", "pending"):
                return "not active in Cal.com"
        except Exception:  # noqa: BLE001 - adopt from the payload when Cal.com cannot be asked
            log.warning("could not confirm Cal.com booking %s", uid)
    pair = _pair_for(payload.get("eventTypeId"))
    if pair is None:
        return f"event type {payload.get('eventTypeId')} not mapped to a professional and service"
    attendee = (payload.get("attendees") or [{}])[0]
    phone = attendee.get("phoneNumber") or ""
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                contact=_contact_for(phone) if phone else None,
                patient_name=attendee.get("name") or "Paciente (Cal.com)",
                patient_phone=phone,
                professional=pair.professional,
                service=pair.service,
                start=calcom.parse_time(payload["startTime"]),
                end=calcom.parse_time(payload["endTime"]),
                source=Appointment.Source.CALCOM,
                external_uid=uid,
            )
    except IntegrityError:
        return "conflicts with an appointment here"
    from agenda.reminders import reminders_arm

    reminders_arm(appointment=appointment)
    metrics.APPOINTMENTS.labels(tenant=connection.schema_name, status=appointment.status, source="calcom").inc()
    return "adopted"


def _notify_cancel(appointment: Appointment) -> None:
    from conversations.models import Conversation
    from conversations.services import outbound_queue

    if not appointment.contact_id or not appointment.contact.reply_number:
        return
    local = timezone.localtime(appointment.start)
    conversation, _ = Conversation.objects.get_or_create(contact=appointment.contact)
    outbound_queue(
        conversation=conversation,
        body=(
            f"Olá, {appointment.patient_name.split(' ')[0]}! Sua consulta de {local:%d/%m} às {local:%H:%M} "
            f"com {appointment.professional.name} foi cancelada pela clínica. Se quiser remarcar, é só responder aqui."
        ),
        kind="notice",
    )


def delivery_process(*, delivery_id: int) -> str:
    delivery = CalcomDelivery.objects.filter(pk=delivery_id, processed_at=None).first()
    if delivery is None:
        return "already processed"
    trigger = delivery.trigger
    payload = _payload(delivery.body)
    with transaction.atomic():
        outcome = _apply(trigger, payload) if trigger in HANDLED else "ignored"
        CalcomDelivery.objects.filter(pk=delivery.pk).update(processed_at=timezone.now(), outcome=outcome[:200])
    slots_cache_invalidate()
    return outcome


def _apply(trigger: str, payload: dict) -> str:
    uid = payload.get("uid") or payload.get("bookingUid")
    appointment = (
        Appointment.objects.select_related("contact", "professional").filter(external_uid=uid).first() if uid else None
    )
    if trigger in ("BOOKING_CREATED", "BOOKING_REQUESTED"):
        return "known" if appointment else _adopt(payload)
    if trigger == "BOOKING_RESCHEDULED":
        if appointment is not None:
            return "known"
        old = Appointment.objects.filter(external_uid=payload.get("rescheduleUid")).first()
        if old is None:
            return _adopt(payload)
        with transaction.atomic():
            Appointment.objects.filter(pk=old.pk, status__in=Appointment.ACTIVE).update(
                status=Appointment.Status.CANCELLED, cancelled_at=timezone.now(), cancel_reason="remarcada no Cal.com"
            )
            new = Appointment.objects.create(
                contact=old.contact,
                patient_name=old.patient_name,
                patient_phone=old.patient_phone,
                professional=old.professional,
                service=old.service,
                payer=old.payer,
                insurance_name=old.insurance_name,
                start=calcom.parse_time(payload["startTime"]),
                end=calcom.parse_time(payload["endTime"]),
                source=old.source,
                external_uid=uid,
                rescheduled_from=old,
            )
            from agenda.reminders import reminders_arm

            reminders_arm(appointment=new)
        return "rescheduled"
    if appointment is None:
        return "unknown booking"
    if trigger in ("BOOKING_CANCELLED", "BOOKING_REJECTED"):
        changed = Appointment.objects.filter(pk=appointment.pk, status__in=Appointment.ACTIVE).update(
            status=Appointment.Status.CANCELLED,
            cancelled_at=timezone.now(),
            cancel_reason=(payload.get("cancellationReason") or "cancelada no Cal.com")[:200],
        )
        if changed:
            metrics.APPOINTMENTS.labels(tenant=connection.schema_name, status="cancelled", source="calcom").inc()
            _notify_cancel(appointment)
        return "cancelled" if changed else "already cancelled"
    if trigger == "BOOKING_NO_SHOW_UPDATED":
        if any(attendee.get("noShow") for attendee in payload.get("attendees") or []):
            Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.NO_SHOW)
            metrics.APPOINTMENTS.labels(tenant=connection.schema_name, status="no_show", source="calcom").inc()
            return "no_show"
        return "no change"
    if trigger == "MEETING_ENDED":
        changed = Appointment.objects.filter(pk=appointment.pk, status__in=Appointment.ACTIVE).update(
            status=Appointment.Status.COMPLETED
        )
        if changed:
            metrics.APPOINTMENTS.labels(tenant=connection.schema_name, status="completed", source="calcom").inc()
        return "completed" if changed else "no change"
    return "ignored"


def calcom_reconcile(*, now=None, weeks: int = 4) -> dict[str, int]:
    """Repair what lost webhooks left out of step: Cal.com's bookings of the coming weeks win."""
    from datetime import timedelta

    settings_row = agenda_settings()
    if settings_row.backend != "calcom":
        return {}
    config = calcom_config(settings_row)
    now = now or timezone.now()
    bookings = calcom.bookings_list(config, after=now, before=now + timedelta(weeks=weeks))
    by_uid = {booking.uid: booking for booking in bookings}
    counts = {"adopted": 0, "cancelled": 0}
    for booking in bookings:
        if booking.status not in ("accepted", "pending"):
            continue
        if not Appointment.objects.filter(external_uid=booking.uid).exists():
            payload = {
                "uid": booking.uid,
                "eventTypeId": booking.event_type_id,
                "startTime": booking.start.isoformat(),
                "endTime": booking.end.isoformat(),
                "metadata": booking.metadata,
                "attendees": [{"name": booking.attendee_name, "phoneNumber": booking.attendee_phone}],
            }
            with transaction.atomic():
                if _adopt(payload, confirmed=True) == "adopted":
                    counts["adopted"] += 1
    stale = Appointment.objects.filter(
        status__in=Appointment.ACTIVE,
        external_uid__isnull=False,
        start__gte=now,
        start__lt=now + timedelta(weeks=weeks),
    )
    for appointment in stale:
        booking = by_uid.get(appointment.external_uid)
        if booking is not None and booking.status in ("accepted", "pending"):
            continue
        changed = Appointment.objects.filter(pk=appointment.pk, status__in=Appointment.ACTIVE).update(
            status=Appointment.Status.CANCELLED, cancelled_at=timezone.now(), cancel_reason="cancelada no Cal.com"
        )
        counts["cancelled"] += changed
    if any(counts.values()):
        slots_cache_invalidate()
    return counts
