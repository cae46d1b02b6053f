"""The tools the secretary (any engine) may call, executed by our code against the agenda.

The patient is always the conversation's contact: no tool takes a patient, phone or contact
argument, and every appointment id is looked up among that contact's own appointments, so no
call can reach another patient's data. Arguments are validated here; a bad call gets an error
result the model can read and correct, never an exception. Times go out in the clinic's zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from rapidfuzz import fuzz, process

from conversations.llm.base import ToolCall, ToolSpec
from conversations.models import Conversation
from conversations.pending import pending_question_clear, pending_question_get, pending_question_set
from conversations.persona import TOPICS, clinic_info

WEEKDAY_SHORT = ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"]
MAX_OPTIONS = 6
MAX_RANGE_DAYS = 31
OFFER_TTL = timedelta(hours=12)
PERIODS = {"morning": (time(0), time(12)), "afternoon": (time(12), time(18)), "evening": (time(18), time(23, 59))}
HANDOFF_REASONS = ["patient_asked", "medical_question", "emergency", "complaint", "not_understood", "other"]


def when_label(moment: datetime) -> str:
    """'qui 26/11 às 09:00', in the clinic's time zone."""
    local = timezone.localtime(moment)
    return f"{WEEKDAY_SHORT[local.weekday()]} {local:%d/%m} às {local:%H:%M}"


def _string(description: str, **extra) -> dict:
    return {"type": "string", "description": description, **extra}


SPECS = [
    ToolSpec(
        "check_availability",
        "Free appointment slots between two dates (inclusive). Offer the patient only options returned here.",
        {
            "type": "object",
            "properties": {
                "date_from": _string("First day, YYYY-MM-DD (clinic's local date)."),
                "date_to": _string("Last day, YYYY-MM-DD. Same as date_from for one day."),
                "period": _string("Part of the day.", enum=["morning", "afternoon", "evening", "any"]),
                "service": _string("Service name as the clinic lists it (default: the clinic's consultation)."),
                "professional": _string("Professional's name, when the patient asked for one."),
                "time": _string("HH:MM, when the patient asked for a specific time: listed first if free."),
                "appointment_id": {
                    "type": "integer",
                    "description": "When looking for a new time for one of the patient's appointments (reschedule).",
                },
            },
            "required": ["date_from", "date_to"],
        },
    ),
    ToolSpec(
        "book_appointment",
        "Book a slot for the patient of this conversation. The slot is re-checked; only a free one is booked.",
        {
            "type": "object",
            "properties": {
                "slot_start": _string("Start of a slot returned by check_availability, ISO 8601 with offset."),
                "service": _string("Service name."),
                "professional": _string("Professional's name."),
                "patient_name": _string("Full name of the person who will be seen."),
            },
            "required": ["slot_start", "patient_name"],
        },
    ),
    ToolSpec(
        "reschedule_appointment",
        "Move one of this patient's appointments to a new free slot.",
        {
            "type": "object",
            "properties": {
                "appointment_id": {"type": "integer", "description": "Id from list_my_appointments."},
                "new_start": _string("Start of a free slot, ISO 8601 with offset."),
            },
            "required": ["appointment_id", "new_start"],
        },
    ),
    ToolSpec(
        "cancel_appointment",
        "Ask to cancel one of this patient's appointments. Nothing is cancelled until the patient answers "
        "SIM to the confirmation question returned here: relay that question.",
        {
            "type": "object",
            "properties": {"appointment_id": {"type": "integer", "description": "Id from list_my_appointments."}},
            "required": ["appointment_id"],
        },
    ),
    ToolSpec(
        "list_my_appointments",
        "This patient's upcoming appointments (only theirs).",
        {"type": "object", "properties": {}},
    ),
    ToolSpec(
        "clinic_info",
        "What the clinic says about a topic (address, hours, prices, insurance plans, preparation, ...).",
        {
            "type": "object",
            "properties": {
                "topic": _string("Topic.", enum=TOPICS),
                "question": _string("The patient's question, to find the closest FAQ entry."),
            },
            "required": ["topic"],
        },
    ),
    ToolSpec(
        "handoff_to_human",
        "Hand the conversation to the clinic's staff (patient asks for a person, medical questions, complaints).",
        {
            "type": "object",
            "properties": {"reason": _string("Why.", enum=HANDOFF_REASONS)},
            "required": ["reason"],
        },
    ),
]
SPEC_NAMES = {spec.name for spec in SPECS}


class ToolArgumentError(Exception):
    pass


def _arg_date(args: dict, name: str, default: date | None = None) -> date:
    value = args.get(name)
    if value in (None, "") and default is not None:
        return default
    if not isinstance(value, str):
        raise ToolArgumentError(f"{name} must be a date string YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise ToolArgumentError(f"{name} is not a date YYYY-MM-DD: {value[:40]!r}") from exc


def _arg_datetime(args: dict, name: str) -> datetime:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolArgumentError(f"{name} must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ToolArgumentError(f"{name} is not an ISO 8601 date-time: {value[:40]!r}") from exc
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _arg_time(args: dict, name: str) -> time | None:
    value = args.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ToolArgumentError(f"{name} must be a string HH:MM")
    try:
        return time.fromisoformat(value.strip()[:5])
    except ValueError as exc:
        raise ToolArgumentError(f"{name} is not a time HH:MM: {value[:20]!r}") from exc


def _arg_int(args: dict, name: str) -> int:
    value = args.get(name)
    if isinstance(value, bool):
        raise ToolArgumentError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ToolArgumentError(f"{name} must be an integer")


def _arg_text(args: dict, name: str) -> str:
    value = args.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ToolArgumentError(f"{name} must be a string")
    return value.strip()


def _by_name(rows: list, name: str):
    """The row whose name best matches `name` (typos and partial names welcome), or None."""
    if not name or not rows:
        return None
    names = [row.name for row in rows]
    lowered = name.lower()
    for row in rows:
        if row.name.lower() == lowered:
            return row
    best = process.extractOne(name, names, scorer=fuzz.WRatio)
    if best and best[1] >= 75:
        return rows[best[2]]
    return None


@dataclass
class Toolbox:
    """Tools bound to one conversation; remembers what happened during the turn."""

    conversation: Conversation
    handoff_reason: str = ""
    outcomes: list = field(default_factory=list)  # (tool name, status or error) in call order

    @property
    def contact(self):
        return self.conversation.contact

    def run(self, call: ToolCall) -> dict:
        if call.name not in SPEC_NAMES:
            result = {"error": "unknown_tool", "detail": f"no tool named {call.name[:40]!r}; use the listed tools"}
        elif call.arguments is None:
            result = {"error": "invalid_arguments", "detail": "arguments must be a JSON object matching the schema"}
        else:
            try:
                result = getattr(self, f"_{call.name}")(call.arguments)
            except ToolArgumentError as exc:
                result = {"error": "invalid_arguments", "detail": str(exc)}
        self.outcomes.append((call.name, result.get("error") or result.get("status", "ok")))
        return result

    # --- helpers -----------------------------------------------------------------------------------

    def _services(self):
        from agenda.models import Service

        return list(Service.objects.filter(active=True).order_by("name"))

    def _professionals(self):
        from agenda.models import Professional

        return list(Professional.objects.filter(active=True).order_by("name"))

    def _service(self, name: str, *, professional=None):
        services = self._services()
        if name:
            found = _by_name(services, name)
            if found is None:
                raise ToolArgumentError(
                    f"unknown service {name[:60]!r}; the clinic offers: " + ", ".join(s.name for s in services)
                )
            return found
        if professional is not None:
            offered = [s for s in services if professional.services.filter(pk=s.pk).exists()]
            services = offered or services
        consultations = [s for s in services if "consulta" in s.name.lower()]
        return (consultations or services or [None])[0]

    def _professional(self, name: str):
        if not name:
            return None
        found = _by_name(self._professionals(), name)
        if found is None:
            raise ToolArgumentError(
                f"unknown professional {name[:60]!r}; the clinic has: "
                + ", ".join(p.name for p in self._professionals())
            )
        return found

    def _own_appointment(self, appointment_id: int):
        from agenda.models import Appointment

        return (
            Appointment.objects.select_related("professional", "service")
            .filter(pk=appointment_id, contact_id=self.contact.pk, status__in=Appointment.ACTIVE)
            .first()
        )

    @staticmethod
    def _describe(appointment) -> dict:
        return {
            "appointment_id": appointment.pk,
            "when": when_label(appointment.start),
            "start": timezone.localtime(appointment.start).isoformat(),
            "service": appointment.service.name,
            "professional": appointment.professional.name,
            "appointment_status": appointment.get_status_display(),
        }

    def _free_slots(self, first: date, last: date, service, professional, period: str = "any"):
        from agenda.backend import get_backend

        slots = get_backend().availability(
            first_day=first,
            last_day=last,
            service_id=service.pk if service else None,
            professional_id=professional.pk if professional else None,
        )
        if period in PERIODS:
            low, high = PERIODS[period]
            slots = [s for s in slots if low <= timezone.localtime(s.start).time() < high]
        return slots

    @staticmethod
    def _spread(slots, *, limit: int = MAX_OPTIONS, per_day: int = 3, gap_minutes: int = 60):
        """A few options a person can choose from: distinct times, spaced, over several days."""
        chosen, per_day_count = [], {}
        for slot in slots:
            day = timezone.localtime(slot.start).date()
            if per_day_count.get(day, 0) >= per_day:
                continue
            if any(
                timezone.localtime(c.start).date() == day
                and abs((slot.start - c.start).total_seconds()) < gap_minutes * 60
                for c in chosen
            ):
                continue
            chosen.append(slot)
            per_day_count[day] = per_day_count.get(day, 0) + 1
            if len(chosen) >= limit:
                break
        return chosen

    def _offer(self, slots, *, service, appointment=None, first_asked: bool = False) -> list[dict]:
        """Number the options, remember them as the pending question (so "a segunda" books it)."""
        options = [
            {
                "option": index,
                "start": timezone.localtime(slot.start).isoformat(),
                "when": when_label(slot.start),
                "professional": slot.professional_name,
                "service": slot.service_name,
            }
            for index, slot in enumerate(slots, 1)
        ]
        if slots and appointment is not None:
            # A new time for an existing appointment: "a segunda" moves it (answers.slot_choice).
            pending_question_set(
                conversation=self.conversation,
                kind="slot_choice",
                ref=appointment.pk,
                data={"options": [slot.start.isoformat() for slot in slots], "first_asked": first_asked},
                ttl=OFFER_TTL,
            )
        elif slots:
            pending_question_set(
                conversation=self.conversation,
                kind="slot_offer",
                data={
                    "options": [
                        {"start": s.start.isoformat(), "service_id": s.service_id, "professional_id": s.professional_id}
                        for s in slots
                    ],
                    "first_asked": first_asked,
                },
                ttl=OFFER_TTL,
            )
        return options

    def _alternatives(self, around: datetime, service, professional) -> list[dict]:
        day = timezone.localtime(around).date()
        slots = self._free_slots(day, day + timedelta(days=14), service, professional)
        slots.sort(key=lambda s: abs((s.start - around).total_seconds()))
        return self._offer(sorted(self._spread(slots, limit=3), key=lambda s: s.start), service=service)

    # --- tools ---------------------------------------------------------------------------------

    def _check_availability(self, args: dict) -> dict:
        today = timezone.localdate()
        first = _arg_date(args, "date_from")
        last = _arg_date(args, "date_to", default=first)
        if last < first:
            first, last = last, first
        if last < today:
            return {"error": "date_in_past", "detail": f"{last.isoformat()} is in the past; today is {today}"}
        first = max(first, today)
        last = min(last, first + timedelta(days=MAX_RANGE_DAYS))
        period = _arg_text(args, "period") or "any"
        if period not in (*PERIODS, "any"):
            raise ToolArgumentError("period must be one of morning, afternoon, evening, any")
        appointment = None
        if args.get("appointment_id") not in (None, ""):
            appointment = self._own_appointment(_arg_int(args, "appointment_id"))
            if appointment is None:
                return {"error": "appointment_not_found", "detail": "no active appointment of this patient has that id"}
        professional = self._professional(_arg_text(args, "professional"))
        if appointment is not None:
            professional = professional or appointment.professional
            service = appointment.service
        else:
            service = self._service(_arg_text(args, "service"), professional=professional)
        offered = list(professional.services.filter(active=True)) if professional else []
        if offered and service not in offered:
            return {
                "error": "service_not_offered_by_professional",
                "detail": f"{professional.name} does not do {service.name}",
                "professional": professional.name,
                "services": [s.name for s in offered],
            }
        slots = self._free_slots(first, last, service, professional, period)
        if appointment is not None:
            slots = [slot for slot in slots if slot.start != appointment.start]
        single_day = first == last
        result = {
            "date_from": first.isoformat(),
            "date_to": last.isoformat(),
            "service": service.name if service else "",
        }
        wanted = _arg_time(args, "time")
        exact = [s for s in slots if timezone.localtime(s.start).time() == wanted] if wanted else []
        if wanted:
            result["requested_time_free"] = bool(exact)
        if exact:
            others = self._spread([s for s in slots if s.start != exact[0].start], limit=2)
            chosen = [exact[0], *others]
        else:
            chosen = self._spread(slots, per_day=MAX_OPTIONS if single_day else 3)
        if chosen:
            result["options"] = self._offer(chosen, service=service, appointment=appointment, first_asked=bool(exact))
            return result
        later = self._free_slots(last + timedelta(days=1), last + timedelta(days=21), service, professional, period)
        if not later and period != "any":
            later = self._free_slots(first, last + timedelta(days=21), service, professional)
        result["options"] = []
        result["next_available"] = self._offer(self._spread(later, limit=3), service=service, appointment=appointment)
        result["note"] = "no free slot in the period asked; next_available lists the nearest ones"
        return result

    def _book_appointment(self, args: dict) -> dict:
        from agenda.models import Appointment, Professional, Service

        start = _arg_datetime(args, "slot_start")
        if start <= timezone.now():
            return {"error": "slot_in_past", "detail": "that time has already passed"}
        offered = self._offered_option(start)
        professional = self._professional(_arg_text(args, "professional"))
        if professional is None and offered:
            professional = Professional.objects.filter(pk=offered["professional_id"]).first()
        service_name = _arg_text(args, "service")
        if not service_name and offered:
            service = Service.objects.filter(pk=offered["service_id"]).first()
        else:
            service = self._service(service_name, professional=professional)
        if service is None:
            return {"error": "no_service", "detail": "the clinic has no active service"}

        existing = (
            Appointment.objects.select_related("professional", "service")
            .filter(contact_id=self.contact.pk, start=start, status__in=Appointment.ACTIVE)
            .first()
        )
        if existing is not None:
            return {"status": "already_booked", **self._describe(existing)}

        return self.book(start=start, service=service, professional=professional, name=_arg_text(args, "patient_name"))

    def book(self, *, start: datetime, service, professional=None, name: str = "", ask_name: bool = False) -> dict:
        """Book `start` for this contact once the agenda confirms it free right now. Without a
        name, the contact's WhatsApp name, unless `ask_name` (booking for someone else)."""
        from agenda import services as agenda
        from agenda.backend import AgendaError, SlotTaken
        from agenda.models import Appointment, Professional

        day = timezone.localtime(start).date()
        free = [s for s in self._free_slots(day, day, service, professional) if s.start == start]
        if not free:
            return {
                "error": "slot_not_available",
                "detail": "that time is not free (taken, closed or outside opening hours)",
                "alternatives": self._alternatives(start, service, professional),
            }
        name = name or ("" if ask_name else self.contact.name.strip())
        if len(name) < 2:
            pending_question_set(
                conversation=self.conversation,
                kind="patient_name",
                data={"start": start.isoformat(), "service_id": service.pk, "professional_id": free[0].professional_id},
                ttl=OFFER_TTL,
            )
            return {"status": "need_patient_name", "ask": "Qual é o nome completo de quem vai ser atendido?"}
        try:
            appointment = agenda.appointment_book(
                service=service,
                start=start,
                professional=Professional.objects.get(pk=free[0].professional_id),
                patient_name=name,
                contact=self.contact,
                patient_phone=self.contact.phone or "",
                source=Appointment.Source.WHATSAPP,
            )
        except SlotTaken:
            return {
                "error": "slot_taken",
                "detail": "someone booked that time a moment ago",
                "alternatives": self._alternatives(start, service, professional),
            }
        except AgendaError as exc:
            return {"error": "agenda_error", "detail": exc.detail}
        pending_question_clear(conversation=self.conversation)
        return {
            "status": "booked",
            **self._describe(appointment),
            "patient_name": appointment.patient_name,
            **({"price": service.price_text} if service.price_text else {}),
            **({"preparation": service.description} if service.description else {}),
        }

    def _offered_option(self, start: datetime) -> dict | None:
        question = pending_question_get(conversation=self.conversation)
        if question is None or question.kind != "slot_offer":
            return None
        for option in question.data.get("options", []):
            if datetime.fromisoformat(option["start"]) == start:
                return option
        return None

    def _reschedule_appointment(self, args: dict) -> dict:
        from agenda import services as agenda
        from agenda.backend import AgendaError, SlotTaken
        from agenda.models import Professional

        appointment = self._own_appointment(_arg_int(args, "appointment_id"))
        if appointment is None:
            return {"error": "appointment_not_found", "detail": "no active appointment of this patient has that id"}
        new_start = _arg_datetime(args, "new_start")
        if new_start <= timezone.now():
            return {"error": "slot_in_past", "detail": "that time has already passed"}
        day = timezone.localtime(new_start).date()
        free = [
            s for s in self._free_slots(day, day, appointment.service, appointment.professional) if s.start == new_start
        ]
        if not free:
            return {
                "error": "slot_not_available",
                "detail": "that time is not free",
                "alternatives": self._alternatives(new_start, appointment.service, appointment.professional),
            }
        try:
            new = agenda.appointment_reschedule(
                appointment=appointment,
                new_start=new_start,
                professional=Professional.objects.get(pk=free[0].professional_id),
            )
        except SlotTaken:
            return {"error": "slot_taken", "detail": "someone booked that time a moment ago"}
        except AgendaError as exc:
            return {"error": "agenda_error", "detail": exc.detail}
        pending_question_clear(conversation=self.conversation)
        return {"status": "rescheduled", "previous": when_label(appointment.start), **self._describe(new)}

    def _cancel_appointment(self, args: dict) -> dict:
        appointment = self._own_appointment(_arg_int(args, "appointment_id"))
        if appointment is None:
            return {"error": "appointment_not_found", "detail": "no active appointment of this patient has that id"}
        pending_question_set(conversation=self.conversation, kind="cancel_confirm", ref=appointment.pk, ttl=OFFER_TTL)
        question = (
            f"Confirma o cancelamento da consulta de {when_label(appointment.start)} com "
            f"{appointment.professional.name}? Responda SIM para cancelar ou NÃO para manter."
        )
        return {"status": "confirmation_required", "ask": question, **self._describe(appointment)}

    def _list_my_appointments(self, args: dict) -> dict:
        from agenda.models import Appointment

        rows = (
            Appointment.objects.select_related("professional", "service")
            .filter(contact_id=self.contact.pk, status__in=Appointment.ACTIVE, start__gte=timezone.now())
            .order_by("start")[:10]
        )
        appointments = [self._describe(row) for row in rows]
        return {"appointments": appointments}

    def _clinic_info(self, args: dict) -> dict:
        topic = _arg_text(args, "topic")
        if topic not in TOPICS:
            topic = "other"
        return clinic_info(topic, question=_arg_text(args, "question")[:300])

    def _handoff_to_human(self, args: dict) -> dict:
        reason = _arg_text(args, "reason")
        self.handoff_reason = reason if reason in HANDOFF_REASONS else "other"
        return {"status": "transferred", "detail": "a person from the clinic will continue this conversation"}
