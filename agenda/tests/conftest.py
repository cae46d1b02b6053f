"""Agenda fixtures: each clinic with the same local hours, in its own time zone."""

from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agenda.models import AgendaSettings, Professional, Service, WeeklyHours


def build_agenda(*, min_notice=0, horizon=365, step=30, buffer=0):
    AgendaSettings.objects.all().delete()
    AgendaSettings.objects.create(
        min_notice_minutes=min_notice,
        horizon_days=horizon,
        slot_step_minutes=step,
        buffer_minutes=buffer,
        reminder_offsets_hours=[24, 2],
    )
    consulta = Service.objects.create(name="Consulta", duration_minutes=30, price_text="R$ 200")
    exame = Service.objects.create(name="Exame", duration_minutes=60)
    ana = Professional.objects.create(name="Dra. Ana")
    ana.services.set([consulta, exame])
    bruno = Professional.objects.create(name="Dr. Bruno")
    bruno.services.set([consulta])
    for weekday in range(5):
        WeeklyHours.objects.create(weekday=weekday, start=time(8), end=time(12))
        WeeklyHours.objects.create(weekday=weekday, start=time(13), end=time(18))
    return {"consulta": consulta, "exame": exame, "ana": ana, "bruno": bruno}


@pytest.fixture
def agenda_alfa(db, clinics):
    connection.set_tenant(clinics.alfa)
    timezone.activate("America/Sao_Paulo")
    objects = build_agenda()
    yield objects
    timezone.deactivate()
    connection.set_schema_to_public()


def _next_monday(at_least_days: int = 7) -> date:
    day = date.today() + timedelta(days=at_least_days)
    return day + timedelta(days=(7 - day.weekday()) % 7)


MONDAY = _next_monday()  # far enough ahead for any notice, inside the horizon
