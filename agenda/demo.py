"""A believable agenda for the demo clinic of `make run` (idempotent)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from agenda.backend import AgendaError
from agenda.models import Appointment, ClosedDate, Professional, Service, WeeklyHours
from agenda.selectors import agenda_settings
from agenda.services import appointment_book

SERVICES = [
    ("Consulta clínica", 30, "R$ 250,00", "Traga seus exames recentes e a lista de remédios em uso."),
    ("Retorno", 20, "Sem custo até 30 dias após a consulta", ""),
    ("Avaliação dermatológica", 45, "R$ 320,00", "Venha sem maquiagem ou creme na área a ser avaliada."),
]
PROFESSIONALS = [
    ("Dra. Ana Souza", ["Consulta clínica", "Retorno"]),
    ("Dr. Bruno Lima", ["Avaliação dermatológica", "Retorno"]),
]
HOLIDAYS = [
    (12, 25, "Natal"),
    (1, 1, "Confraternização Universal"),
    (4, 21, "Tiradentes"),
    (11, 15, "Proclamação da República"),
]


def demo_agenda_seed(*, today: date | None = None) -> bool:
    """Create the demo agenda once. Returns False when it already exists."""
    if Professional.objects.exists():
        return False
    settings_row = agenda_settings()
    settings_row.reminder_offsets_hours = [24, 2]
    settings_row.min_notice_minutes = 60
    settings_row.save()
    services = {}
    for name, minutes, price, description in SERVICES:
        services[name] = Service.objects.create(
            name=name, duration_minutes=minutes, price_text=price, description=description
        )
    professionals = []
    for name, offered in PROFESSIONALS:
        professional = Professional.objects.create(name=name)
        professional.services.set([services[s] for s in offered])
        professionals.append(professional)
    for weekday in range(5):  # Monday to Friday, lunch break 12:00-13:00
        WeeklyHours.objects.create(weekday=weekday, start=time(8), end=time(12))
        WeeklyHours.objects.create(weekday=weekday, start=time(13), end=time(18))
    WeeklyHours.objects.create(weekday=5, start=time(8), end=time(12))  # Saturday morning
    today = today or timezone.localdate()
    for month, day, reason in HOLIDAYS:
        holiday = date(today.year, month, day)
        if holiday < today:
            holiday = date(today.year + 1, month, day)
        ClosedDate.objects.create(date=holiday, reason=reason)

    # A few appointments already booked on the next working days.
    bookings = [
        (professionals[0], services["Consulta clínica"], time(9), "Carla Mendes"),
        (professionals[0], services["Retorno"], time(14), "José Pereira"),
        (professionals[1], services["Avaliação dermatológica"], time(10), "Luana Rocha"),
        (professionals[1], services["Retorno"], time(16), "Pedro Alves (filho de Marta)"),
    ]
    day = today + timedelta(days=1)
    for index, (professional, service, at, patient) in enumerate(bookings):
        while day.weekday() >= 5 or ClosedDate.objects.filter(date=day).exists():
            day += timedelta(days=1)
        start = datetime.combine(day, at, tzinfo=timezone.get_current_timezone())
        try:
            appointment_book(
                service=service,
                start=start,
                professional=professional,
                patient_name=patient,
                source=Appointment.Source.PAINEL,
            )
        except AgendaError:
            continue
        if index % 2:
            day += timedelta(days=1)
    return True
