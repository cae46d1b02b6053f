"""The built-in agenda: free slots from the clinic's hours, professionals' hours, closed
dates and stored appointments; bookings made race-free by the database's no-overlap constraint."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from agenda.backend import Slot, SlotTaken, SlotUnavailable
from agenda.models import AgendaSettings, Appointment, ClosedDate, Professional, Service, WeeklyHours
from agenda.selectors import appointments_overlapping


def _intersect(first: list[tuple[time, time]], second: list[tuple[time, time]]) -> list[tuple[time, time]]:
    result = []
    for a_start, a_end in first:
        for b_start, b_end in second:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                result.append((start, end))
    return sorted(result)


class BuiltinBackend:
    name = "builtin"

    def __init__(self, settings_row: AgendaSettings):
        self.settings = settings_row

    # --- availability --------------------------------------------------------------------------
    def availability(
        self,
        *,
        first_day: date,
        last_day: date,
        service_id: int | None = None,
        professional_id: int | None = None,
        now: datetime | None = None,
    ) -> list[Slot]:
        tz = timezone.get_current_timezone()
        now = now or timezone.now()
        services = list(Service.objects.filter(active=True, **({"pk": service_id} if service_id else {})))
        professionals = list(
            Professional.objects.filter(active=True, **({"pk": professional_id} if professional_id else {}))
            .prefetch_related("services")
            .order_by("name", "id")
        )
        if not services or not professionals:
            return []
        clinic_hours: dict[int, list] = defaultdict(list)
        own_hours: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        for row in WeeklyHours.objects.filter(professional__isnull=True) | WeeklyHours.objects.filter(
            professional__in=professionals
        ):
            if row.professional_id is None:
                clinic_hours[row.weekday].append((row.start, row.end))
            else:
                own_hours[row.professional_id][row.weekday].append((row.start, row.end))
        closed, absent = set(), set()
        for row in ClosedDate.objects.filter(date__gte=first_day, date__lte=last_day):
            if row.professional_id is None:
                closed.add(row.date)
            else:
                absent.add((row.professional_id, row.date))

        range_start = datetime.combine(first_day, time.min, tzinfo=tz)
        range_end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz)
        buffer = timedelta(minutes=self.settings.buffer_minutes)
        busy = appointments_overlapping(
            professional_ids=[p.pk for p in professionals], start=range_start - buffer, end=range_end + buffer
        )
        earliest = now + timedelta(minutes=self.settings.min_notice_minutes)
        latest = now + timedelta(days=self.settings.horizon_days)
        step = timedelta(minutes=max(5, self.settings.slot_step_minutes))

        slots: list[Slot] = []
        day = first_day
        while day <= last_day:
            if day not in closed:
                weekday = day.weekday()
                for professional in professionals:
                    if (professional.pk, day) in absent:
                        continue
                    intervals = self._intervals(clinic_hours[weekday], own_hours.get(professional.pk), weekday)
                    if not intervals:
                        continue
                    offered = {s.pk for s in professional.services.all()}
                    for service in services:
                        if offered and service.pk not in offered:
                            continue
                        slots.extend(
                            self._slots_in(
                                day,
                                tz,
                                intervals,
                                service,
                                professional,
                                busy[professional.pk],
                                buffer,
                                step,
                                earliest,
                                latest,
                            )
                        )
            day += timedelta(days=1)
        slots.sort(key=lambda slot: (slot.start, slot.professional_name, slot.service_name))
        return slots

    @staticmethod
    def _intervals(clinic: list, own: dict | None, weekday: int) -> list[tuple[time, time]]:
        if own is None:  # no hours of their own: the clinic's
            return sorted(clinic)
        if not clinic:  # the clinic set no opening hours: the professional's
            return sorted(own.get(weekday, []))
        return _intersect(sorted(clinic), sorted(own.get(weekday, [])))

    @staticmethod
    def _slots_in(day, tz, intervals, service, professional, busy, buffer, step, earliest, latest):
        duration = timedelta(minutes=service.duration_minutes)
        utc = ZoneInfo("UTC")
        # Busy times of this day only, widened by the buffer: a slot [s, e) is free when no
        # busy (b_start, b_end) has b_start < e and b_end > s.
        day_start = datetime.combine(day, time.min, tzinfo=tz)
        day_end = day_start + timedelta(days=1)
        blocked = [
            (b_start - buffer, b_end + buffer) for b_start, b_end in busy if b_start < day_end and b_end > day_start
        ]
        for start_time, end_time in intervals:
            # Work in UTC: both bounds converted once, then plain arithmetic.
            cursor = datetime.combine(day, start_time, tzinfo=tz).astimezone(utc)
            close = datetime.combine(day, end_time, tzinfo=tz).astimezone(utc)
            while cursor + duration <= close:
                end = cursor + duration
                if earliest <= cursor <= latest and not any(b < end and e > cursor for b, e in blocked):
                    yield Slot(
                        start=cursor,
                        end=end,
                        professional_id=professional.pk,
                        professional_name=professional.name,
                        service_id=service.pk,
                        service_name=service.name,
                    )
                cursor += step

    def is_offered(
        self, *, start: datetime, service_id: int, professional_id: int, now: datetime | None = None
    ) -> bool:
        local_day = timezone.localtime(start).date()
        return any(
            slot.start == start
            for slot in self.availability(
                first_day=local_day, last_day=local_day, service_id=service_id, professional_id=professional_id, now=now
            )
        )

    # --- bookings -------------------------------------------------------------------------------
    def book(self, *, appointment: Appointment) -> None:
        if not self.is_offered(
            start=appointment.start, service_id=appointment.service_id, professional_id=appointment.professional_id
        ):
            # Taken by someone else, or outside the hours, notice or horizon.
            if Appointment.objects.filter(
                professional_id=appointment.professional_id,
                status__in=Appointment.ACTIVE,
                start__lt=appointment.end,
                end__gt=appointment.start,
            ).exists():
                raise SlotTaken()
            raise SlotUnavailable()
        try:
            with transaction.atomic():
                appointment.save()
        except IntegrityError as exc:
            if "appointment_no_overlap" in str(exc):
                raise SlotTaken() from exc
            raise

    def cancel(self, *, appointment: Appointment, reason: str = "") -> None:
        return None  # nothing outside our database

    def reschedule(self, *, old: Appointment, new: Appointment) -> None:
        self.book(appointment=new)
