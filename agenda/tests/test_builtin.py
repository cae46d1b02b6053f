"""The built-in agenda: free slots from hours, breaks, holidays and bookings; race-free booking."""

import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from agenda import services
from agenda.backend import SlotTaken, SlotUnavailable, get_backend
from agenda.models import Appointment, ClosedDate, Professional, Reminder, WeeklyHours
from agenda.tests.conftest import MONDAY, build_agenda

SP = ZoneInfo("America/Sao_Paulo")


def _local(day, hour, minute=0, tz=SP):
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def _starts(slots, professional=None, service=None):
    return [
        timezone.localtime(s.start).strftime("%H:%M")
        for s in slots
        if (professional is None or s.professional_id == professional.pk)
        and (service is None or s.service_id == service.pk)
    ]


def test_slots_follow_hours_and_the_lunch_break(agenda_alfa):
    slots = get_backend().availability(first_day=MONDAY, last_day=MONDAY, service_id=agenda_alfa["consulta"].pk)
    ana = _starts(slots, agenda_alfa["ana"])
    assert ana[:3] == ["08:00", "08:30", "09:00"]
    assert "11:30" in ana and "12:00" not in ana and "12:30" not in ana and "13:00" in ana
    assert ana[-1] == "17:30"
    assert len(ana) == 18
    assert _starts(slots, agenda_alfa["bruno"]) == ana


def test_a_service_longer_than_the_step_fits_whole_in_an_interval(agenda_alfa):
    slots = get_backend().availability(first_day=MONDAY, last_day=MONDAY, service_id=agenda_alfa["exame"].pk)
    ana = _starts(slots, agenda_alfa["ana"])
    assert "11:00" in ana and "11:30" not in ana  # 11:30 + 60 min would cross lunch
    assert _starts(slots, agenda_alfa["bruno"]) == []  # Bruno does not perform it


def test_weekend_holiday_and_absence_have_no_slots(agenda_alfa):
    saturday = MONDAY + timedelta(days=5)
    assert get_backend().availability(first_day=saturday, last_day=saturday) == []
    ClosedDate.objects.create(date=MONDAY, reason="Feriado")
    assert get_backend().availability(first_day=MONDAY, last_day=MONDAY) == []
    tuesday = MONDAY + timedelta(days=1)
    ClosedDate.objects.create(date=tuesday, professional=agenda_alfa["ana"], reason="Congresso")
    slots = get_backend().availability(first_day=tuesday, last_day=tuesday)
    assert {s.professional_id for s in slots} == {agenda_alfa["bruno"].pk}


def test_professional_hours_intersect_the_clinics(agenda_alfa):
    WeeklyHours.objects.create(professional=agenda_alfa["bruno"], weekday=0, start=time(10), end=time(14))
    slots = get_backend().availability(
        first_day=MONDAY,
        last_day=MONDAY,
        service_id=agenda_alfa["consulta"].pk,
        professional_id=agenda_alfa["bruno"].pk,
    )
    assert _starts(slots) == ["10:00", "10:30", "11:00", "11:30", "13:00", "13:30"]


def test_booked_time_disappears_and_buffer_is_kept(agenda_alfa):
    services.appointment_book(
        service=agenda_alfa["consulta"], professional=agenda_alfa["ana"], start=_local(MONDAY, 9), patient_name="Rita"
    )
    slots = get_backend().availability(first_day=MONDAY, last_day=MONDAY, service_id=agenda_alfa["consulta"].pk)
    ana = _starts(slots, agenda_alfa["ana"])
    assert "09:00" not in ana and "08:30" in ana and "09:30" in ana
    from agenda.models import AgendaSettings

    AgendaSettings.objects.update(buffer_minutes=15)
    ana = _starts(
        get_backend().availability(first_day=MONDAY, last_day=MONDAY, service_id=agenda_alfa["consulta"].pk),
        agenda_alfa["ana"],
    )
    assert "08:30" not in ana and "09:30" not in ana and "10:00" in ana


def test_minimum_notice_and_horizon(agenda_alfa):
    from agenda.models import AgendaSettings

    AgendaSettings.objects.update(min_notice_minutes=120, horizon_days=30)
    now = _local(MONDAY, 9, 10)
    backend = get_backend()
    slots = backend.availability(first_day=MONDAY, last_day=MONDAY, service_id=agenda_alfa["consulta"].pk, now=now)
    assert _starts(slots, agenda_alfa["ana"])[0] == "11:30"
    far = MONDAY + timedelta(days=40)
    assert backend.availability(first_day=far, last_day=far, now=now) == []


def test_booking_outside_hours_or_notice_is_refused(agenda_alfa):
    with pytest.raises(SlotUnavailable):
        services.appointment_book(
            service=agenda_alfa["consulta"],
            professional=agenda_alfa["ana"],
            start=_local(MONDAY, 12, 15),
            patient_name="X",
        )
    with pytest.raises(SlotUnavailable):
        services.appointment_book(
            service=agenda_alfa["consulta"], start=timezone.now() - timedelta(days=1), patient_name="Passado"
        )


def test_booking_a_taken_slot_raises_slot_taken(agenda_alfa):
    kwargs = {"service": agenda_alfa["consulta"], "professional": agenda_alfa["ana"], "start": _local(MONDAY, 10)}
    services.appointment_book(patient_name="Primeira", **kwargs)
    with pytest.raises(SlotTaken):
        services.appointment_book(patient_name="Segunda", **kwargs)


def test_without_a_professional_the_first_free_one_is_booked(agenda_alfa):
    start = _local(MONDAY, 10)
    first = services.appointment_book(service=agenda_alfa["consulta"], start=start, patient_name="A")
    second = services.appointment_book(service=agenda_alfa["consulta"], start=start, patient_name="B")
    assert {first.professional_id, second.professional_id} == {agenda_alfa["ana"].pk, agenda_alfa["bruno"].pk}
    with pytest.raises(SlotUnavailable):
        services.appointment_book(service=agenda_alfa["consulta"], start=start, patient_name="C")


def test_reschedule_keeps_history_and_rearms_reminders(agenda_alfa):
    old = services.appointment_book(
        service=agenda_alfa["consulta"], professional=agenda_alfa["ana"], start=_local(MONDAY, 10), patient_name="Rita"
    )
    assert sorted(Reminder.objects.filter(appointment=old).values_list("offset_hours", flat=True)) == [2, 24]
    new = services.appointment_reschedule(appointment=old, new_start=_local(MONDAY, 10, 30))  # overlaps itself
    old.refresh_from_db()
    assert old.status == "cancelled" and old.cancel_reason == "remarcada"
    assert new.rescheduled_from_id == old.pk and new.status == "scheduled"
    assert Reminder.objects.filter(appointment=new).count() == 2
    assert set(Reminder.objects.filter(appointment=old).values_list("skipped_reason", flat=True)) == {
        "consulta remarcada"
    }


def test_cancel_frees_the_slot(agenda_alfa):
    appointment = services.appointment_book(
        service=agenda_alfa["consulta"], professional=agenda_alfa["ana"], start=_local(MONDAY, 11), patient_name="Rita"
    )
    services.appointment_cancel(appointment=appointment, reason="paciente pediu")
    assert "11:00" in _starts(
        get_backend().availability(first_day=MONDAY, last_day=MONDAY, service_id=agenda_alfa["consulta"].pk),
        agenda_alfa["ana"],
    )


def test_reminder_offsets_already_past_are_skipped(agenda_alfa):
    soon = timezone.localtime(timezone.now() + timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    appointment = Appointment(start=soon, end=soon + timedelta(minutes=30))
    appointment.pk = None
    from agenda.models import AgendaSettings

    AgendaSettings.objects.update(min_notice_minutes=0)
    WeeklyHours.objects.all().delete()
    for weekday in range(7):
        WeeklyHours.objects.create(weekday=weekday, start=time(0), end=time(23, 59))
    booked = services.appointment_book(
        service=agenda_alfa["consulta"], professional=agenda_alfa["ana"], start=soon, patient_name="Rita"
    )
    assert list(Reminder.objects.filter(appointment=booked).values_list("offset_hours", flat=True)) == [2]


@pytest.mark.integration
def test_twenty_concurrent_attempts_at_one_slot_make_one_appointment(clinics, committed):
    """Real threads, real connections, real transactions: the database constraint decides."""
    connection.set_tenant(clinics.beta)
    try:
        objects = build_agenda()
    finally:
        connection.set_schema_to_public()
    start = _local(MONDAY, 9, tz=ZoneInfo("America/Manaus"))
    barrier = threading.Barrier(20)
    outcomes = []

    def attempt(index):
        from django.db import connections

        try:
            with schema_context("beta"):
                timezone.activate("America/Manaus")
                barrier.wait()
                try:
                    services.appointment_book(
                        service=objects["consulta"], professional=objects["ana"], start=start, patient_name=f"P{index}"
                    )
                    outcomes.append("booked")
                except SlotTaken:
                    outcomes.append("taken")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert sorted(outcomes) == ["booked"] + ["taken"] * 19
        with schema_context("beta"):
            assert Appointment.objects.filter(start=start, status="scheduled").count() == 1
    finally:
        with schema_context("beta"):
            Appointment.objects.all().delete()
            Professional.objects.all().delete()
            from agenda.models import AgendaSettings, Service

            Service.objects.all().delete()
            WeeklyHours.objects.all().delete()
            AgendaSettings.objects.all().delete()
