"""One interface for the clinic's agenda, whatever holds it (the built-in agenda or Cal.com).

`availability`, `book`, `cancel`, `reschedule`, and our own small exceptions. The rest of
the project (API, reminders, the dialogue engine) calls `get_backend()` and never knows which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


class AgendaError(Exception):
    """Base of the agenda's exceptions; `detail` is safe to show (pt-BR)."""

    detail = "Não foi possível concluir a operação na agenda."

    def __init__(self, detail: str | None = None):
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


class SlotTaken(AgendaError):
    detail = "Esse horário acabou de ser ocupado."


class SlotUnavailable(AgendaError):
    detail = "Esse horário não está disponível para agendamento."


class AgendaUnavailable(AgendaError):
    detail = "A agenda está indisponível no momento. Tente novamente em instantes."


class AppointmentNotActive(AgendaError):
    detail = "Esta consulta não está mais ativa."


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, UTC
    end: datetime
    professional_id: int
    professional_name: str
    service_id: int
    service_name: str


class AgendaBackend(Protocol):
    name: str

    def availability(
        self, *, first_day: date, last_day: date, service_id: int | None = None, professional_id: int | None = None
    ) -> list[Slot]: ...

    def book(self, *, appointment) -> None:
        """Make the booking for an Appointment row being created (raise SlotTaken/...)."""

    def cancel(self, *, appointment, reason: str = "") -> None: ...

    def reschedule(self, *, old, new) -> None: ...


def get_backend() -> AgendaBackend:
    from agenda.builtin import BuiltinBackend
    from agenda.calcom_backend import CalcomBackend
    from agenda.selectors import agenda_settings

    settings_row = agenda_settings()
    if settings_row.backend == "calcom":
        return CalcomBackend(settings_row)
    return BuiltinBackend(settings_row)
