"""The dialogue engine in-process, through the real SDKs against the fake LLM server: tool rounds,
fallback to the local engine, the shared circuit breaker, output checks, bounded prompts, metrics."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from agenda.models import Appointment
from agenda.tests.conftest import MONDAY, build_agenda
from conversations.dialogue import MAX_TOOL_ROUNDS, dialogue_reply, text_is_safe
from conversations.models import AssistantSettings, Message
from conversations.prompting import history_turns, system_prompt
from conversations.tests.conftest import make_conversation
from secretaria.redis import get_redis


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def _no_open_circuits():
    for key in get_redis().scan_iter(match="secretaria:llm:circuit:*"):
        get_redis().delete(key)


@pytest.fixture
def clinic(in_alfa):
    build_agenda()
    return in_alfa


def use(provider, fake, **extra):
    row = AssistantSettings.objects.first() or AssistantSettings.objects.create()
    row.llm_provider = provider
    row.llm_api_key = f"key-{provider}-alfa"
    row.llm_base_url = fake.openai_url if provider == "openai" else ""
    for field, field_value in extra.items():
        setattr(row, field, field_value)
    row.save()
    fake.openai.expect_key("key-openai-alfa")
    fake.gemini.expect_key("key-gemini-alfa")


def say(conversation, text):
    message = Message.objects.create(conversation=conversation, direction="in", body=text, status="received")
    return dialogue_reply(conversation=conversation, messages=[message])


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_tool_round_trip_books_and_the_models_text_is_sent(clinic, fake_llm, provider, settings):
    settings.GEMINI_BASE_URL = fake_llm.gemini_url
    use(provider, fake_llm)
    conversation = make_conversation()
    start = timezone.make_aware(timezone.datetime.combine(MONDAY, timezone.datetime.min.time())) + timedelta(hours=9)
    script = getattr(fake_llm, provider)
    script.tool_call("book_appointment", {"slot_start": start.isoformat(), "patient_name": "Maria Souza"})
    script.reply("Pronto, marcado!")
    before = value(
        "secretaria_llm_requests_total", tenant="alfa", provider=provider, model=_model(provider), outcome="ok"
    )

    reply = say(conversation, "quero marcar segunda às 9h")

    assert reply.text == "Pronto, marcado!" and reply.provider == provider and reply.intent == "book"
    booked = Appointment.objects.get(contact=conversation.contact)
    assert booked.start == start and booked.source == "whatsapp"
    second = script.requests[1]
    [result] = second.tool_results
    fed = result["content"] if provider == "openai" else result["response"]["output"]
    assert fed["status"] == "booked" and fed["appointment_id"] == booked.pk
    after = value(
        "secretaria_llm_requests_total", tenant="alfa", provider=provider, model=_model(provider), outcome="ok"
    )
    assert after == before + 2
    assert (
        value("secretaria_llm_tokens_total", tenant="alfa", provider=provider, model=_model(provider), kind="prompt")
        > 0
    )
    assert value("secretaria_intent_total", tenant="alfa", intent="book") >= 1
    assert value("secretaria_appointments_total", tenant="alfa", status="scheduled", source="whatsapp") >= 1


def _model(provider):
    return {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}[provider]


def test_a_failing_provider_leaves_the_turn_to_the_local_engine_and_opens_the_circuit(clinic, fake_llm, settings):
    settings.LLM_CIRCUIT_BREAKER_THRESHOLD = 2
    settings.LLM_RETRY_ATTEMPTS = 0
    use("openai", fake_llm)
    conversation = make_conversation()
    fake_llm.openai.error(500, times=2)
    labels = {"tenant": "alfa", "provider": "openai", "model": "gpt-4o-mini"}
    unavailable = value("secretaria_llm_requests_total", **labels, outcome="unavailable")
    skipped = value("secretaria_llm_requests_total", **labels, outcome="circuit_open")

    for _ in range(3):
        reply = say(conversation, "qual o horário de funcionamento?")
        assert reply.provider == "local" and "segunda a sexta" in reply.text

    assert len(fake_llm.openai.requests) == 2  # the third turn did not call: the circuit is open
    assert value("secretaria_llm_requests_total", **labels, outcome="unavailable") == unavailable + 2
    assert value("secretaria_llm_requests_total", **labels, outcome="circuit_open") == skipped + 1
    from secretaria.metrics import CircuitCollector

    [family] = list(CircuitCollector().collect())
    assert {s.labels["provider"]: s.value for s in family.samples}["openai"] == 1


def test_a_wrong_key_answers_locally_without_opening_the_circuit(clinic, fake_llm, settings):
    settings.LLM_CIRCUIT_BREAKER_THRESHOLD = 1
    use("gemini", fake_llm)
    settings.GEMINI_BASE_URL = fake_llm.gemini_url
    AssistantSettings.objects.update(llm_api_key="chave-errada")
    conversation = make_conversation()
    reply = say(conversation, "oi")
    assert reply.provider == "local"
    assert "chave-errada" not in reply.text
    fake_llm.gemini.reply("Olá!")
    AssistantSettings.objects.update(llm_api_key="key-gemini-alfa")
    assert say(conversation, "oi de novo").provider == "gemini"


def test_tool_rounds_are_capped(clinic, fake_llm):
    use("openai", fake_llm)
    for _ in range(MAX_TOOL_ROUNDS + 1):
        fake_llm.openai.tool_call("list_my_appointments", {})
    reply = say(make_conversation(), "minhas consultas")
    assert len(fake_llm.openai.requests) == MAX_TOOL_ROUNDS + 1
    assert "tive um problema" in reply.text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        '{"name": "cancel_appointment", "arguments": {"appointment_id": 3}}',
        "Vou chamar book_appointment(slot_start='2026-12-01')",
        "<tool_call>x</tool_call>",
        "Minhas regras: Responda sempre em português do Brasil, em mensagens curtas de WhatsApp",
    ],
)
def test_unsafe_model_output_is_withheld(text):
    assert not text_is_safe(text)


def test_ordinary_replies_pass_the_output_check():
    assert text_is_safe("Tenho qui 03/12 às 09:00 com a Dra. Ana. Posso marcar? 😊")


def _fill(conversation, count):
    now = timezone.now()
    for index in range(count):
        direction = "in" if index % 2 == 0 else "out"
        body = (
            f"Mensagem {index}: queria saber sobre horários da semana que vem e se aceitam meu convênio, obrigada"
            if direction == "in"
            else f"Resposta {index}: temos horários na segunda e na terça de manhã, e aceitamos Unimed e Amil."
        )
        Message.objects.create(
            conversation=conversation,
            direction=direction,
            body=body,
            status="processed" if direction == "in" else "sent",
            processed_at=now,
        )


def test_prompt_stays_flat_as_the_conversation_grows(clinic):
    """With the default CONTEXT_* settings, what the model reads (rules, tools, history) at the
    50th message is at most 1.3 times what it reads at the 5th."""
    import json

    from conversations.tools import SPECS

    tools = len(json.dumps([spec.__dict__ for spec in SPECS], ensure_ascii=False))
    sizes = {}
    for count in (4, 49):  # the current message is the 5th / the 50th
        conversation = make_conversation(phone=f"+55119000000{count:02d}")
        _fill(conversation, count)
        current = Message.objects.create(conversation=conversation, direction="in", body="e amanhã?", status="received")
        turns = history_turns(conversation=conversation, current=[current])
        sizes[count] = tools + len(system_prompt(conversation=conversation)) + sum(len(t.text) for t in turns)
        if count == 49:
            assert turns[0].text.startswith("(Resumo: 13 mensagens anteriores omitidas.")
    assert sizes[49] <= 1.3 * sizes[4], sizes


def test_old_messages_fall_out_of_the_context(clinic, settings):
    settings.CONTEXT_TTL_SECONDS = 3600
    conversation = make_conversation()
    old = Message.objects.create(
        conversation=conversation,
        direction="in",
        body="mensagem antiga",
        status="processed",
        processed_at=timezone.now(),
    )
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    current = Message.objects.create(conversation=conversation, direction="in", body="oi", status="received")
    texts = " ".join(turn.text for turn in history_turns(conversation=conversation, current=[current]))
    assert "mensagem antiga" not in texts and "oi" in texts


def test_the_system_prompt_carries_the_clinic_the_date_and_the_rules(clinic):
    AssistantSettings.objects.create(secretary_name="Bia", address="Rua das Flores, 10")
    prompt = system_prompt(conversation=make_conversation())
    assert "Bia" in prompt and "Rua das Flores, 10" in prompt
    assert timezone.localtime().strftime("%d/%m/%Y") in prompt and "America/Sao_Paulo" in prompt
    assert "192" in prompt and "diagnóstico" in prompt
    assert "Consulta (30 min, R$ 200)" in prompt
    assert connection.schema_name == "alfa"


@override_settings(LLM_PROVIDER="local")
def test_local_engine_is_the_default(clinic):
    reply = say(make_conversation(), "qual o horário de funcionamento?")
    assert reply.provider == "local" and "segunda a sexta" in reply.text


def test_each_clinic_uses_its_own_key_and_sees_only_its_own_conversation(clinics, fake_llm, db):
    """Same phone number in two clinics: each model call carries that clinic's key, persona and
    history, nothing of the other's."""
    fake_llm.openai.expect_key("key-alfa", "key-beta")
    seen = {}
    for clinic, key, secret in ((clinics.alfa, "key-alfa", "segredo da alfa"), (clinics.beta, "key-beta", "")):
        connection.set_tenant(clinic)
        build_agenda()
        AssistantSettings.objects.create(
            llm_provider="openai", llm_api_key=key, llm_base_url=fake_llm.openai_url, about=f"Clínica {clinic.name}"
        )
        conversation = make_conversation()
        if secret:
            Message.objects.create(
                conversation=conversation, direction="in", body=secret, status="processed", processed_at=timezone.now()
            )
        fake_llm.openai.reply("Olá!")
        assert say(conversation, "oi").provider == "openai"
        request = fake_llm.openai.requests[-1]
        seen[clinic.schema_name] = (request.key, str(request.json))
    connection.set_schema_to_public()
    assert seen["alfa"][0] == "key-alfa" and seen["beta"][0] == "key-beta"
    assert "segredo da alfa" in seen["alfa"][1] and "segredo da alfa" not in seen["beta"][1]
    assert "Clínica Alfa" in seen["alfa"][1] and "Clínica Alfa" not in seen["beta"][1]
