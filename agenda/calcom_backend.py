"""The Cal.com agenda: free slots and bookings live in Cal.com; our Appointment rows mirror them.

Each (professional, service) pair maps to a Cal.com event type. Free slots are cached in
Redis per clinic for 60 s; a booking or a webhook invalidates the clinic's cache.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agenda import calcom
from agenda.backend import AgendaUnavailable, Slot, SlotTaken
from agenda.models import AgendaSettings, Appointment, CalcomEventType
from secretaria.redis import get_redis

CACHE_SECONDS = 60


def calcom_config(settings_row: AgendaSettings) -> calcom.CalcomConfig:
    return calcom.CalcomConfig(
        api_url=settings_row.calcom_api_url or settings.CAL_API_URL,
        api_key=settings_row.calcom_api_key or settings.CAL_API_KEY,
    )


def _version_key() -> str:
    return f"secretaria:calcom:slots-version:{connection.schema_name}"


def slots_cache_invalidate() -> None:
    """Forget the clinic's cached free slots (after a booking or a webhook)."""
    try:
        get_redis().incr(_version_key())
    except Exception:  # noqa: BLE001, S110 - the cache expires by itself within a minute
        pass


class CalcomBackend:
    name = "calcom"

    def __init__(self, settings_row: AgendaSettings):
        self.settings = settings_row
        self.config = calcom_config(settings_row)

    def _pairs(self, service_id: int | None, professional_id: int | None):
        pairs = CalcomEventType.objects.select_related("professional", "service").filter(
            professional__active=True, service__active=True
        )
        if service_id:
            pairs = pairs.filter(service_id=service_id)
        if professional_id:
            pairs = pairs.filter(professional_id=professional_id)
        return list(pairs.order_by("professional__name", "service__name"))

    def _slots_cached(self, pair: CalcomEventType, first_day: date, last_day: date) -> list[calcom.CalcomSlot]:
        redis = get_redis()
        try:
            version = int(redis.get(_version_key()) or 0)
            scope = f"{connection.schema_name}:{version}:{pair.event_type_id}"
            key = f"secretaria:calcom:slots:{scope}:{first_day}:{last_day}"
            cached = redis.get(key)
        except Exception:  # noqa: BLE001 - no cache without Redis
            cached, key = None, None
        if cached is not None:
            return [
                calcom.CalcomSlot(start=calcom.parse_time(s), end=calcom.parse_time(e) if e else None)
                for s, e in json.loads(cached)
            ]
        found = calcom.slots(
            self.config,
            event_type_id=pair.event_type_id,
            first_day=first_day,
            last_day=last_day,
            time_zone=timezone.get_current_timezone_name(),
        )
        if key:
            payload = [(s.start.isoformat(), s.end.isoformat() if s.end else None) for s in found]
            try:
                redis.set(key, json.dumps(payload), ex=CACHE_SECONDS)
            except Exception:  # noqa: BLE001, S110
                pass
        return found

    def availability(self, *, first_day: date, last_day: date, service_id=None, professional_id=None, now=None):
        result = []
        for pair in self._pairs(service_id, professional_id):
            duration = timedelta(minutes=pair.service.duration_minutes)
            for slot in self._slots_cached(pair, first_day, last_day):
                result.append(
                    Slot(
                        start=slot.start,
                        end=slot.end or slot.start + duration,
                        professional_id=pair.professional_id,
                        professional_name=pair.professional.name,
                        service_id=pair.service_id,
                        service_name=pair.service.name,
                    )
                )
        result.sort(key=lambda s: (s.start, s.professional_name, s.service_name))
        return result

    def _event_type(self, appointment: Appointment) -> int:
        pair = CalcomEventType.objects.filter(
            professional_id=appointment.professional_id, service_id=appointment.service_id
        ).first()
        if pair is None:
            raise AgendaUnavailable("Este profissional não tem esse serviço configurado no Cal.com.")
        return pair.event_type_id

    def book(self, *, appointment: Appointment) -> None:
        event_type_id = self._event_type(appointment)
        try:
            with transaction.atomic():
                appointment.save()  # our id goes into Cal.com's metadata; rolled back if Cal.com says no
        except IntegrityError as exc:
            raise SlotTaken() from exc
        phone = appointment.contact.phone if appointment.contact_id and appointment.contact.phone else ""
        booking = calcom.booking_create(
            self.config,
            event_type_id=event_type_id,
            start=appointment.start,
            name=appointment.patient_name,
            phone=phone or appointment.patient_phone,
            time_zone=timezone.get_current_timezone_name(),
            metadata={"tenant": connection.schema_name, "appointmentId": appointment.pk, "channel": appointment.source},
        )
        appointment.external_uid = booking.uid
        appointment.end = booking.end
        appointment.save(update_fields=["external_uid", "end"])
        slots_cache_invalidate()

    def cancel(self, *, appointment: Appointment, reason: str = "") -> None:
        if appointment.external_uid:
            calcom.booking_cancel(self.config, uid=appointment.external_uid, reason=reason)
        slots_cache_invalidate()

    def reschedule(self, *, old: Appointment, new: Appointment) -> None:
        if not old.external_uid:
            self.book(appointment=new)
            return
        booking = calcom.booking_reschedule(self.config, uid=old.external_uid, start=new.start)
        new.external_uid = booking.uid
        new.end = booking.end
        try:
            with transaction.atomic():
                new.save()
        except IntegrityError as exc:
            raise SlotTaken() from exc
        slots_cache_invalidate()


def appointment_for_booking(booking: calcom.CalcomBooking) -> Appointment | None:
    return Appointment.objects.filter(external_uid=booking.uid).first()
