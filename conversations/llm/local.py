"""The offline engine: deterministic, rule-based pt-BR, speaking the same tool protocol as a model.

It reads the patient's burst with `nlu` (intent, dates and times, service, professional), asks
for the same tools a model would (so every booking goes through the same checks), and words
the results with `wording`. The demo's default, and the fallback while a provider is down.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime

from django.utils import timezone

from conversations import wording
from conversations.llm import nlu
from conversations.llm.base import LLMResponse, ToolCall, ToolSpec, Turn
from conversations.models import Conversation, Message
from conversations.pending import pending_question_get, pending_question_set
from conversations.persona import assistant_settings, clinic_name, professional_names, services_facts

MODEL = "regras-ptbr"
DEFAULT_DAYS = 7
MY_APPOINTMENTS = re.compile(
    r"\b(minhas? consultas?|consultas? (que )?(eu )?tenho|tenho (alguma )?consultas?|minha proxima consulta|"
    r"quando e minha consulta)\b"
)
CONTACT_QUESTION = re.compile(r"\b(telefone|whatsapp|numero de contato|email|e mail)\b")
COMPLAINT = re.compile(
    r"\b(porcaria|pessim[oa]|absurdo|reclamar|reclamacao|descaso|ninguem atende|horrivel|vergonha|desrespeito)\b"
)
BOOKING_VERB = re.compile(r"\b(marcar|marca|agendar|agenda|horario|vaga|encaixe|consultar)\b")
DURATION_QUESTION = re.compile(r"\b(quanto tempo (dura|demora|leva)|dura quanto|demora quanto|duracao)\b")
LATE_NOTICE = re.compile(r"\b(atrasad[oa]|atrasar|atraso|vou chegar tarde|chego (um pouco )?mais tarde|vou demorar)\b")
ROBOT_QUESTION = re.compile(r"\b(robo|bot|chatbot|maquina|inteligencia artificial|ia|automatic[oa])\b")


def _call(name: str, **arguments) -> ToolCall:
    return ToolCall(id=f"local_{uuid.uuid4().hex[:10]}", name=name, arguments=arguments)


class LocalProvider:
    name = "local"
    model = MODEL

    def __init__(self, *, conversation: Conversation, current: list[Message]):
        self.conversation = conversation
        self.text = "\n".join(message.body for message in current if message.body).strip()
        self.today = timezone.localdate()
        self._plan: dict | None = None

    # --- understanding -----------------------------------------------------------------------------

    def plan(self) -> dict:
        if self._plan is not None:
            return self._plan
        text = self.text
        intent = nlu.detect_intent(text) if text else "unknown"
        when = nlu.parse_when(text, today=self.today) if text else None
        service = nlu.match_name(text, [s.name for s in services_facts()]) if text else None
        professional = nlu.match_name(text, professional_names()) if text else None
        plain = nlu.plain(text)
        if DURATION_QUESTION.search(plain):
            intent = "clinic_info"
        elif LATE_NOTICE.search(plain) and intent in ("unknown", "greeting", "yes", "no"):
            intent = "running_late"
        draft = self._draft()
        if draft is not None:  # the patient is answering "which service?" of a request half made
            when = when or draft["when"]
            professional = professional or draft["professional"]
            if service and intent in ("unknown", "yes", "clinic_info", "greeting"):
                intent = "book"
        topic = "services" if DURATION_QUESTION.search(plain) else (nlu.info_topic(text) if text else None)
        if intent in ("unknown", "yes", "no", "greeting") and (when is not None or service or professional):
            intent = "book"  # "amanhã às 10h", "amanhã não dá, semana que vem", "oi, tem dermatologista?"
        elif intent == "clinic_info" and topic in (None, "services", "professionals") and when is not None:
            intent = "book"  # "vcs tem dermatologista? queria na terça": asking for a time
        if CONTACT_QUESTION.search(plain) and intent in ("unknown", "clinic_info"):
            intent, topic = "clinic_info", "address"
        if MY_APPOINTMENTS.search(plain) and intent in ("clinic_info", "book", "unknown", "confirm"):
            intent = "my_appointments"
        if COMPLAINT.search(plain) and intent in ("unknown", "greeting", "no", "clinic_info"):
            intent = "complaint"
        moving = self._appointment_being_moved()
        if moving and intent in ("book", "unknown", "yes", "no", "greeting") and when is not None:
            intent = "reschedule"  # "pode ser segunda?" while choosing a new time for an appointment
        if intent == "unknown" and when is None and "?" in text:
            intent, topic = "clinic_info", topic or "other"  # "vcs atendem criança?": ask the FAQ and the facts
        if intent == "book" and when is None and not professional and "?" in text and not BOOKING_VERB.search(plain):
            intent, topic = "clinic_info", topic or "other"  # "a consulta é com hora marcada?": a question
        if not service and not professional:
            service = self._service_in_talk()
        self._plan = {
            "intent": intent,
            "when": when,
            "service": service or "",
            "professional": professional or "",
            "topic": topic,
            "moving": moving,
        }
        return self._plan

    def _appointment_being_moved(self) -> int | None:
        """The appointment whose new time is being chosen (a reschedule offer is pending)."""
        question = pending_question_get(conversation=self.conversation)
        if question is not None and question.kind == "slot_choice" and question.ref.isdigit():
            return int(question.ref)
        return None

    def _draft(self) -> dict | None:
        question = pending_question_get(conversation=self.conversation)
        if question is None or question.kind != "booking_draft":
            return None
        data = question.data
        day = lambda key: date.fromisoformat(data[key]) if data.get(key) else None  # noqa: E731
        when = nlu.When(
            first_day=day("first_day"),
            last_day=day("last_day"),
            time=dtime.fromisoformat(data["time"]) if data.get("time") else None,
            period=data.get("period", ""),
        )
        return {
            "when": when if (when.first_day or when.time or when.period) else None,
            "professional": data.get("professional", ""),
        }

    def _remember_draft(self, plan: dict) -> None:
        """Keep the day, time and professional asked while we ask which service."""
        when = plan["when"]
        pending_question_set(
            conversation=self.conversation,
            kind="booking_draft",
            data={
                "first_day": when.first_day.isoformat() if when and when.first_day else "",
                "last_day": when.last_day.isoformat() if when and when.last_day else "",
                "time": when.time.isoformat() if when and when.time else "",
                "period": when.period if when else "",
                "professional": plan["professional"],
            },
            ttl=timedelta(hours=2),
        )

    def _service_in_talk(self) -> str:
        """The service of the times offered last ("e na sexta?" after dermatology offers)."""
        from agenda.models import Service

        question = pending_question_get(conversation=self.conversation)
        if question is None or question.kind not in ("slot_offer", "patient_name"):
            return ""
        options = question.data.get("options") or [question.data]
        service_id = options[0].get("service_id") if options else None
        return Service.objects.filter(pk=service_id).values_list("name", flat=True).first() or ""

    # --- the protocol ------------------------------------------------------------------------------

    def complete(self, *, system: str, turns: list[Turn], tools: list[ToolSpec]) -> LLMResponse:
        last_user = max((i for i, turn in enumerate(turns) if turn.role == "user"), default=-1)
        results = [(turn.tool_name, turn.result) for turn in turns[last_user + 1 :] if turn.role == "tool"]
        plan = self.plan()
        step = getattr(self, f"_{plan['intent']}", self._unknown)
        outcome = step(plan, results)
        if isinstance(outcome, ToolCall):
            return LLMResponse(text="", tool_calls=(outcome,), model=MODEL, intent=plan["intent"])
        return LLMResponse(text=outcome, model=MODEL, intent=plan["intent"])

    # --- flows: each returns the next tool call, or the final text -------------------------------

    def _range(self, plan: dict) -> tuple[str, str, str]:
        when = plan["when"]
        first = (when.first_day if when else None) or self.today
        last = (when.last_day if when else None) or (
            first if when and when.first_day else first + timedelta(DEFAULT_DAYS)
        )
        return first.isoformat(), last.isoformat(), (when.period if when else "") or "any"

    def _exact_start(self, plan: dict) -> datetime | None:
        when = plan["when"]
        if not when or not when.time:
            return None
        if when.first_day and when.last_day and when.last_day != when.first_day:
            return None
        day = when.first_day or self._offered_day() or self.today
        start = datetime.combine(day, when.time, tzinfo=timezone.get_current_timezone())
        if when.first_day is None and start <= timezone.now():
            start += timedelta(days=1)
        return start

    def _offered_day(self) -> date | None:
        """ "Pode ser às 10h?" after times offered for one day means that day."""
        question = pending_question_get(conversation=self.conversation)
        if question is None or question.kind not in ("slot_offer", "slot_choice"):
            return None
        options = question.data.get("options") or []
        starts = [datetime.fromisoformat(o["start"] if isinstance(o, dict) else o) for o in options]
        days = {timezone.localtime(start).date() for start in starts}
        return days.pop() if len(days) == 1 else None

    def _book(self, plan: dict, results: list):
        when = plan["when"]
        if when is not None and when.past:
            return wording.PAST_DATE
        if not results:
            start = self._exact_start(plan)
            if start is not None:
                # A time was asked: check it (and offer it first, to confirm with a "sim").
                day = timezone.localtime(start).date().isoformat()
                return _call(
                    "check_availability",
                    date_from=day,
                    date_to=day,
                    time=f"{timezone.localtime(start):%H:%M}",
                    service=plan["service"],
                    professional=plan["professional"],
                )
            first, last, period = self._range(plan)
            return _call(
                "check_availability",
                date_from=first,
                date_to=last,
                period=period,
                service=plan["service"],
                professional=plan["professional"],
            )
        name, result = results[-1]
        if name == "check_availability":
            if result.get("error") == "service_not_offered_by_professional":
                self._remember_draft(plan)
            return wording.offer_text(result, period=when.period if when else "")
        return wording.booked_text(result)

    def _appointments(self, plan: dict, results: list, action: str):
        """Reschedule or cancel: find the patient's appointment first."""
        if not results and plan["moving"] and action == "reschedule":
            return self._new_time_for(plan["moving"], plan)
        if not results:
            return _call("list_my_appointments")
        name, result = results[-1]
        if name == "list_my_appointments":
            rows = result.get("appointments") or []
            if not rows:
                return "Não encontrei consultas marcadas para este número. Quer marcar uma?"
            when = plan["when"]
            if len(rows) > 1 and when is not None and when.first_day and action == "cancel":
                # "cancela a de quinta": the one on that day, when there is exactly one
                on_day = [
                    row
                    for row in rows
                    if when.first_day
                    <= datetime.fromisoformat(row["start"]).date()
                    <= (when.last_day or when.first_day)
                ]
                rows = on_day if len(on_day) == 1 else rows
            if len(rows) > 1:
                pending_question_set(
                    conversation=self.conversation,
                    kind="appointment_choice",
                    data={"action": action, "options": [row["appointment_id"] for row in rows]},
                    ttl=timedelta(hours=12),
                )
                verb = "cancelar" if action == "cancel" else "remarcar"
                return wording.appointments_text(
                    result, question=f"Qual destas consultas você quer {verb}? Responda com o número."
                )
            appointment = rows[0]
            if action == "cancel":
                return _call("cancel_appointment", appointment_id=appointment["appointment_id"])
            start = self._exact_start(plan)
            if start is not None and plan["intent"] == "reschedule":
                return _call(
                    "reschedule_appointment", appointment_id=appointment["appointment_id"], new_start=start.isoformat()
                )
            return self._new_time_for(appointment["appointment_id"], plan)
        if name == "cancel_appointment":
            return result.get("ask") or wording.booked_text(result)
        if name == "check_availability":
            when = plan["when"]
            return wording.offer_text(result, period=when.period if when else "", rescheduling=True)
        return wording.booked_text(result)

    def _new_time_for(self, appointment_id: int, plan: dict) -> ToolCall:
        """Look for a new time for that appointment (its service and professional), offering
        the asked time first when there is one."""
        start = self._exact_start(plan)
        if start is not None:
            day = timezone.localtime(start).date().isoformat()
            return _call(
                "check_availability",
                date_from=day,
                date_to=day,
                time=f"{timezone.localtime(start):%H:%M}",
                appointment_id=appointment_id,
            )
        first, last, period = self._range(plan)
        return _call("check_availability", date_from=first, date_to=last, period=period, appointment_id=appointment_id)

    def _complaint(self, plan: dict, results: list):
        return self._handoff(
            "complaint", results, "Sinto muito pelo transtorno. Vou passar sua mensagem agora para a equipe da clínica."
        )

    def _reschedule(self, plan: dict, results: list):
        return self._appointments(plan, results, "reschedule")

    def _cancel(self, plan: dict, results: list):
        return self._appointments(plan, results, "cancel")

    def _my_appointments(self, plan: dict, results: list):
        if not results:
            return _call("list_my_appointments")
        return wording.appointments_text(results[-1][1])

    def _confirm(self, plan: dict, results: list):
        if not results:
            return _call("list_my_appointments")
        rows = results[-1][1].get("appointments") or []
        if not rows:
            return "Não encontrei consultas marcadas para este número. Quer marcar uma?"
        return wording.appointments_text(results[-1][1]) + " Obrigado, até lá!"

    def _clinic_info(self, plan: dict, results: list):
        if not results:
            return _call("clinic_info", topic=plan["topic"] or "other", question=self.text[:300])
        return wording.info_text(results[-1][1], question=self.text)

    def _handoff(self, reason: str, results: list, text: str):
        if not results:
            return _call("handoff_to_human", reason=reason)
        return text

    def _human(self, plan: dict, results: list):
        if ROBOT_QUESTION.search(nlu.plain(self.text)) and not results:
            secretary = assistant_settings().secretary_name
            return (
                f"Sou {secretary}, a secretária virtual (um atendimento automático) da {clinic_name()}. "
                "Posso marcar, remarcar e cancelar consultas e tirar dúvidas. Se preferir falar com uma pessoa "
                "da equipe, escreva ATENDENTE."
            )
        return self._handoff("patient_asked", results, "")

    def _emergency(self, plan: dict, results: list):
        return self._handoff("emergency", results, wording.EMERGENCY)

    def _medical_question(self, plan: dict, results: list):
        return self._handoff("medical_question", results, wording.MEDICAL)

    def _prompt_injection(self, plan: dict, results: list):
        return wording.REFUSAL

    def _greeting(self, plan: dict, results: list):
        name = (self.conversation.contact.name or "").split(" ")[0]
        plain = nlu.plain(self.text)
        word = next((w for w in ("bom dia", "boa tarde", "boa noite") if w in plain), "olá").capitalize()
        hello = f"{word}, {name}!" if name else f"{word}!"
        secretary = assistant_settings().secretary_name
        return f"{hello} Sou {secretary}, secretária virtual da {clinic_name()}. {wording.HELP}"

    def _running_late(self, plan: dict, results: list):
        return (
            "Obrigada por avisar! Venha assim que puder. Se o atraso for grande, me escreva que eu vejo "
            "outro horário para você."
        )

    def _thanks(self, plan: dict, results: list):
        return "Por nada! Se precisar de mais alguma coisa, é só chamar."

    def _goodbye(self, plan: dict, results: list):
        return "Até logo! Quando precisar, é só chamar."

    def _unknown(self, plan: dict, results: list):
        return wording.NOT_UNDERSTOOD
