"""The scenario suite: Portuguese conversations (data files beside this module) run end to end —
signed webhook -> gunicorn -> RQ worker -> engine -> agenda -> fake Whaticket — once with the
local engine and once each through the real openai and google-genai SDKs against the fake LLM
server, scripted to make the tool calls the file lists.

Every process runs on one shifted clock (Monday 2026-11-30, 08:30 in São Paulo) so dates in
the files are absolute. Each scenario asserts the texts the fake Whaticket received, the
database afterwards (the appointment really exists, or really does not), and that every time
quoted to the patient was free in the agenda at that turn (or is the patient's own appointment).
With the scripted engines the test proves our side, not a model's judgement: arguments
validated, slots re-checked, results and errors fed back, the final text sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from django.utils import timezone
from django_tenants.utils import tenant_context

from secretaria.testing.fake_llm import FakeLLM
from secretaria.testing.fake_whaticket import FakeWhaticket
from secretaria.testing.processes import gunicorn, rq_worker
from secretaria.testing.whaticket_payloads import WebhookEmitter, variant_a, voice_note_a

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 30, 8, 30, tzinfo=SP)  # a Monday
ENGINES = ("local", "openai", "gemini")
CLOCK_DIR = Path(__file__).resolve().parents[3] / "secretaria" / "testing" / "clock"
LONG_FILLER = "Deixa eu explicar minha situação com calma, desde o começo. " * 85  # about 5,000 characters
QUOTED = re.compile(r"(\d{2})/(\d{2}) às (\d{2}):(\d{2})")


def _load() -> list[dict]:
    scenarios = []
    for path in sorted(HERE.glob("*.yaml")):
        for scenario in yaml.safe_load(path.read_text(encoding="utf-8")):
            scenario["file"] = path.name
            scenarios.append(scenario)
    return scenarios


SCENARIOS = _load()


def test_there_are_at_least_forty_scenarios_with_unique_names():
    names = [scenario["name"] for scenario in SCENARIOS]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """Three clinics (one per engine), the fakes, gunicorn and a worker, all on the shifted clock."""
    from agenda.demo import demo_agenda_seed
    from conversations.models import AssistantSettings
    from conversations.persona import demo_persona_seed
    from tenants.models import Clinic
    from tenants.services import clinic_provision

    offset = NOW.timestamp() - time.time()
    traveller = time_machine.travel(NOW, tick=True)
    traveller.start()
    logs = tmp_path_factory.mktemp("scenario-logs")
    clinics = {}
    try:
        with django_db_blocker.unblock(), FakeWhaticket() as whats, FakeLLM() as llm:
            for engine in ENGINES:
                slug = f"cena_{engine}"
                Clinic.objects.filter(schema_name=slug).delete()
                clinic = clinic_provision(slug=slug, name="Clínica Cena", domains=[f"cena-{engine}.localhost"]).clinic
                clinics[engine] = clinic
                with tenant_context(clinic), timezone.override(SP):
                    demo_agenda_seed(today=NOW.date())
                    demo_persona_seed()
                    row = AssistantSettings.objects.get()
                    row.llm_provider = engine
                    if engine == "openai":
                        row.llm_base_url, row.llm_api_key = llm.openai_url, "sk-cena-openai"
                    elif engine == "gemini":
                        row.llm_api_key = "cena-gemini-key"
                    row.save()
            env = {
                "DEBOUNCE_SECONDS": "0.3",
                "WHATSAPP_API_URL": whats.url,
                "WHATSAPP_BEARER_TOKEN": whats.api_token,
                "GEMINI_BASE_URL": llm.gemini_url,
                "LLM_TIMEOUT_SECONDS": "5",
                "LLM_RETRY_ATTEMPTS": "0",
                "PYTHONPATH": str(CLOCK_DIR),
                "SECRETARIA_TEST_CLOCK_OFFSET": str(offset),
            }
            with (
                gunicorn(workers=1, env=env, log_path=logs / "web.log") as base,
                rq_worker(env=env, log_path=logs / "worker.log"),
            ):
                yield {"base": base, "whats": whats, "llm": llm, "clinics": clinics, "logs": logs}
            for clinic in clinics.values():
                Clinic.objects.get(pk=clinic.pk).delete(force_drop=True)
    finally:
        traveller.stop()


def _at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=SP)


class Run:
    """One scenario on one engine."""

    def __init__(self, stack, scenario: dict, engine: str, blocker):
        self.stack, self.scenario, self.engine = stack, scenario, engine
        self.clinic = stack["clinics"][engine]
        digits = int(hashlib.sha256(f"{engine}:{scenario['name']}".encode()).hexdigest(), 16) % 10**8
        self.number = f"55119{digits:08d}"
        self.phone = f"+{self.number}"
        self.ids: dict[str, int] = {}
        self.replies: list[str] = []
        self.blocker = blocker
        self.emitter = WebhookEmitter(
            base_url=stack["base"], host=f"cena-{engine}.localhost", secret=self.clinic.webhook_secret
        )
        self.sequence = 0

    # --- given ---------------------------------------------------------------------------------
    def given(self):
        from agenda.models import Appointment, Professional, Service
        from agenda.services import appointment_book
        from conversations.models import Contact, Conversation, Message
        from conversations.pending import pending_question_set

        given = self.scenario.get("given") or {}
        Appointment.objects.filter(notes="cenário").delete()
        Appointment.objects.filter(source=Appointment.Source.WHATSAPP).delete()
        contact = Contact.objects.create(
            phone=self.phone, wa_id=self.number, name=given.get("contact_name", "Rita Souza")
        )
        conversation = Conversation.objects.create(contact=contact, last_activity_at=timezone.now())
        if given.get("known_contact", True):
            # Not a first contact (unless the scenario says so): no LGPD line in every reply.
            Message.objects.create(
                conversation=conversation, direction="out", body="Olá!", status="sent", kind="notice"
            )
        for key, spec in (given.get("appointments") or {}).items():
            other = spec.get("other_patient")
            other_contact = None
            if other:
                other_contact, _ = Contact.objects.get_or_create(
                    phone="+5511955550000", defaults={"wa_id": "5511955550000", "name": other}
                )
            appointment = appointment_book(
                service=Service.objects.get(name=spec.get("service", "Consulta clínica")),
                professional=Professional.objects.get(name=spec.get("professional", "Dra. Ana Souza")),
                start=_at(spec["start"]),
                patient_name=other or contact.name,
                contact=other_contact or contact,
                notes="cenário",
            )
            self.ids[key] = appointment.pk
        reminder = given.get("reminder_for")
        if reminder:
            Message.objects.create(
                conversation=conversation,
                direction="out",
                body="Lembrete da sua consulta. Responda 1 para confirmar, 2 para remarcar, 3 para cancelar.",
                status="sent",
                kind="reminder",
            )
            pending_question_set(conversation=conversation, kind="reminder", ref=self.ids[reminder])
        self.contact = contact
        self.conversation = conversation

    # --- the model's script ---------------------------------------------------------------------
    def _fill(self, value):
        if isinstance(value, str):
            match = re.fullmatch(r"\$(\w+)", value)
            if match:
                return self.ids[match.group(1)]
            return value
        if isinstance(value, dict):
            return {key: self._fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._fill(item) for item in value]
        return value

    def script(self, steps: list[dict]):
        fake = getattr(self.stack["llm"], self.engine)
        for step in steps:
            if "call" in step:
                name, arguments = step["call"]
                fake.tool_call(name, self._fill(arguments))
            elif "calls" in step:
                fake.tool_calls([(name, self._fill(arguments)) for name, arguments in step["calls"]])
            elif "raw" in step:
                name, text = step["raw"]
                if self.engine == "openai":
                    fake.raw_arguments(name, text)
                else:  # Gemini's args are always an object: send one that fits no schema
                    fake.tool_call(name, {"raw": text})
            elif "say" in step:
                fake.reply(step["say"])
            elif "error" in step:
                fake.error(step["error"])
            else:
                raise AssertionError(f"unknown script step {step}")

    # --- turns ----------------------------------------------------------------------------------
    def free_now(self) -> set[datetime]:
        from agenda.backend import get_backend

        today = timezone.localdate()
        return {slot.start for slot in get_backend().availability(first_day=today, last_day=today + timedelta(35))}

    def own_appointments(self) -> set[datetime]:
        from agenda.models import Appointment

        return set(
            Appointment.objects.filter(contact=self.contact, status__in=Appointment.ACTIVE).values_list(
                "start", flat=True
            )
        )

    def send(self, turn: dict) -> list[str]:
        from conversations.models import Message

        whats = self.stack["whats"]
        seen = len([s for s in whats.sent if s["number"] == self.number])
        before = Message.objects.filter(conversation=self.conversation, direction="out").count()
        free_before = self.free_now()
        own_before = self.own_appointments()
        texts = turn["patient"] if isinstance(turn["patient"], list) else [turn["patient"]]
        if self.engine != "local" and turn.get("model"):
            self.script(turn["model"])
        for text in texts:
            self.sequence += 1
            message_id = f"CENA-{self.engine}-{self.number}-{self.sequence}"
            if text.startswith("<long>"):
                text = LONG_FILLER + text.removeprefix("<long>")
            if text == "<voice>":
                payload = voice_note_a(number=self.number, message_id=message_id, name=self.contact.name)
            else:
                payload = variant_a(number=self.number, text=text, message_id=message_id, name=self.contact.name)
            response = self.emitter.post(payload)
            assert response.status_code == 202, response.text
        self._wait_done(before)
        sent = [s["body"] for s in whats.sent if s["number"] == self.number][seen:]
        own_after = self.own_appointments()
        for day, month, hour, minute in QUOTED.findall("\n".join(sent)):
            year = NOW.year + (1 if int(month) < NOW.month else 0)
            quoted = datetime(year, int(month), int(day), int(hour), int(minute), tzinfo=SP)
            assert quoted in free_before or quoted in own_before or quoted in own_after, (
                f"{self.engine}: quoted {quoted:%d/%m %H:%M}, which was not free at that turn: {sent}"
            )
        self.replies.extend(sent)
        return sent

    def _wait_done(self, out_before: int, timeout: float = 20.0):
        from conversations.models import Message

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.15)
            inbound_open = Message.objects.filter(
                conversation=self.conversation, direction="in", processed_at=None
            ).exists()
            outs = Message.objects.filter(conversation=self.conversation, direction="out")
            unsent = outs.filter(status__in=["queued", "sending"]).exists()
            if not inbound_open and not unsent and outs.count() > out_before:
                time.sleep(0.2)  # a handoff's second message, if any, is queued with the reply
                if not outs.filter(status__in=["queued", "sending"]).exists():
                    return
            if not inbound_open and not unsent and self.conversation_state() == "human":
                return
        log = (self.stack["logs"] / "worker.log").read_text()[-4000:]
        raise AssertionError(f"{self.engine}/{self.scenario['name']}: no reply within {timeout} s\n{log}")

    def conversation_state(self) -> str:
        self.conversation.refresh_from_db()
        return self.conversation.state


def _check_turn(run: Run, turn: dict, sent: list[str]):
    joined = "\n".join(sent)
    if run.engine == "local":
        for expected in turn.get("says", []):
            assert expected.lower() in joined.lower(), f"local: expected {expected!r} in {sent!r}"
        for unexpected in turn.get("not_says", []):
            assert unexpected.lower() not in joined.lower(), f"local: unexpected {unexpected!r} in {sent!r}"
    else:
        said = [step["say"] for step in turn.get("model") or [] if "say" in step and not step.get("withheld")]
        for text in said:
            assert text in joined, f"{run.engine}: the model's text did not reach the patient: {sent!r}"
        for expected in turn.get("model_says", []):
            assert expected.lower() in joined.lower(), f"{run.engine}: expected {expected!r} in {sent!r}"
    for expected in turn.get("says_all", []):
        assert expected.lower() in joined.lower(), f"{run.engine}: expected {expected!r} in {sent!r}"
    for unexpected in turn.get("never_says", []):
        assert unexpected.lower() not in joined.lower(), f"{run.engine}: {unexpected!r} leaked in {sent!r}"


def _check_fed_back(run: Run, turn: dict, first_request: int):
    """What our side answered the model: each expected (tool, key, value) is in some tool result."""
    if run.engine == "local":
        return
    results = []
    for request in run.stack["llm"].requests[first_request:]:
        for item in request.tool_results:
            content = item.get("content") if run.engine == "openai" else (item.get("response") or {})
            if run.engine == "gemini" and isinstance(content, dict):
                content = content.get("output", content)  # an error result is sent as is
            results.append(content)
    if turn.get("prompt_max_chars"):
        for request in run.stack["llm"].requests[first_request:]:
            if run.engine == "openai":
                last = request.messages[-1]["content"] if request.messages[-1]["role"] == "user" else ""
            else:
                last = " ".join(part.get("text", "") for part in request.contents[-1].get("parts", []))
            assert len(last) <= turn["prompt_max_chars"], f"{run.engine}: a {len(last)}-character user turn"
    for expectation in turn.get("fed_back", []):
        key, value = expectation
        assert any(isinstance(r, dict) and str(r.get(key)) == str(value) for r in results), (
            f"{run.engine}: no tool result with {key}={value!r} fed back; "
            f"got {json.dumps(results, ensure_ascii=False)[:1500]}"
        )


def _check_outcome(run: Run, outcome: dict):
    from agenda.models import Appointment

    mine = Appointment.objects.filter(contact=run.contact)
    active = mine.filter(status__in=Appointment.ACTIVE)
    if "booked" in outcome:
        spec = outcome["booked"]
        found = active.filter(start=_at(spec["at"]), source="whatsapp")
        have = list(active.values_list("start", flat=True))
        assert found.count() == 1, f"{run.engine}: expected a booking at {spec['at']}, have {have}"
        if "service" in spec:
            assert found.get().service.name == spec["service"]
        if "professional" in spec:
            assert found.get().professional.name == spec["professional"]
        if "patient_name" in spec:
            assert found.get().patient_name == spec["patient_name"]
    if outcome.get("no_new_booking"):
        assert not mine.filter(source="whatsapp").exists(), f"{run.engine}: unexpected booking"
    if "rescheduled" in outcome:
        old = Appointment.objects.get(pk=run.ids[outcome["rescheduled"]["appointment"]])
        assert old.status == "cancelled" and old.cancel_reason == "remarcada"
        moved = active.filter(rescheduled_from=old)
        if "to" in outcome["rescheduled"]:
            moved = moved.filter(start=_at(outcome["rescheduled"]["to"]))
        assert moved.count() == 1, f"{run.engine}: no rescheduled appointment"
    if "cancelled" in outcome:
        assert Appointment.objects.get(pk=run.ids[outcome["cancelled"]]).status == "cancelled"
    for key in outcome.get("still_active", []):
        assert Appointment.objects.get(pk=run.ids[key]).status in Appointment.ACTIVE, f"{key} was touched"
    if "confirmed" in outcome:
        assert Appointment.objects.get(pk=run.ids[outcome["confirmed"]]).status == "confirmed"
    if "handed_off" in outcome:
        assert run.conversation_state() == "human"
        assert run.conversation.handoff_reason == outcome["handed_off"]
    if outcome.get("bot_keeps_conversation"):
        assert run.conversation_state() == "bot"
    if "consent" in outcome:
        run.contact.refresh_from_db()
        assert run.contact.accepts_proactive is outcome["consent"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario(stack, scenario, engine, django_db_blocker):
    if engine in scenario.get("skip", []):
        pytest.skip(scenario["skip_why"])
    run = Run(stack, scenario, engine, django_db_blocker)
    llm = stack["llm"]
    llm.reset()
    with django_db_blocker.unblock(), tenant_context(run.clinic), timezone.override(SP):
        run.given()
        for turn in scenario["turns"]:
            first_request = len(llm.requests)
            sent = run.send(turn)
            _check_turn(run, turn, sent)
            _check_fed_back(run, turn, first_request)
            assert not llm.problems(), f"{engine}: {llm.problems()}"
            if engine != "local":
                left = getattr(llm, engine).pending
                assert not left, f"{engine}: our side never asked for the scripted {left}"
        _check_outcome(run, scenario.get("outcome") or {})
