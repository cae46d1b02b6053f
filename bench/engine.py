"""The dialogue engine's own cost per turn (the model's time excluded), and prompt growth.

    .venv/bin/python bench/engine.py [--turns 200]

In a scratch database with the demo clinic's agenda and persona, patient turns (booking,
questions, reschedules, small talk) are answered in-process by `engine.reply_for`:
- with the `local` engine (no model at all: the whole turn is ours);
- through the real openai SDK against the fake LLM server (tool call, then text), with the
  time spent inside the provider call subtracted, so what remains is prompt building, tool
  execution against the agenda, checks and bookkeeping;
- baseline, same run: a consent command (PARAR/VOLTAR), the cheapest turn reply_for has.
Then a 50-message conversation through the fake: prompt tokens (as the fake counts them,
request bytes / 4) at message 5 and at message 50; target ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretaria.settings")
os.environ["DJANGO_READ_DOT_ENV"] = "false"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

from secretaria import devservices  # noqa: E402

BENCH_DB = "secretaria_bench_engine"
LOCAL_TURNS = [
    "oi, queria marcar uma consulta amanhã de manhã",
    "qual o endereço de vocês?",
    "aceita unimed?",
    "tem horário com dermatologista na quinta à tarde?",
    "quanto custa a consulta?",
    "quero marcar sexta às 15h",
    "quais são minhas consultas?",
    "obrigada!",
]
LONG_CONVERSATION = [
    "Oi, bom dia! Queria saber se vocês atendem pelo convênio Bradesco Saúde.",
    "Perfeito. E qual o valor da consulta particular, caso eu precise?",
    "Tem horário na semana que vem, de preferência de manhã?",
    "Pode ser na terça então. Qual o primeiro horário?",
    "Ótimo, obrigada. Preciso levar algum exame?",
]


def _scratch() -> None:
    import psycopg

    devservices.ensure_environ()
    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="turns measured per engine")
    args = parser.parse_args()
    _scratch()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from agenda.demo import demo_agenda_seed
    from agenda.models import Appointment
    from conversations import dialogue, engine
    from conversations.models import AssistantSettings, Contact, Conversation, Message
    from conversations.persona import demo_persona_seed
    from secretaria.testing.fake_llm import FakeLLM
    from tenants.services import clinic_provision

    call_command("migrate_schemas", shared=True, executor="standard", verbosity=0)
    clinic = clinic_provision(slug="bench_engine", name="Clínica Bench", domains=["benchengine.localhost"]).clinic
    connection.set_tenant(clinic)
    timezone.activate(clinic.time_zone)
    demo_agenda_seed()
    demo_persona_seed()
    settings.LLM_RETRY_ATTEMPTS = 0

    model_time = [0.0]
    real_call = dialogue._call

    def timed_call(provider, system, turns):
        started = time.perf_counter()
        try:
            return real_call(provider, system, turns)
        finally:
            if provider.name != "local":
                model_time[0] += time.perf_counter() - started

    dialogue._call = timed_call
    counter = [0]

    def turn(conversation, text: str) -> tuple[float, str]:
        counter[0] += 1
        message = Message.objects.create(
            conversation=conversation, direction="in", body=text, status="received", external_id=f"b{counter[0]}"
        )
        model_time[0] = 0.0
        started = time.perf_counter()
        reply = engine.reply_for(conversation=conversation, messages=[message])
        elapsed = time.perf_counter() - started - model_time[0]
        now = timezone.now()
        Message.objects.filter(pk=message.pk).update(processed_at=now, status="processed")
        Message.objects.create(conversation=conversation, direction="out", body=reply.text or "-", status="sent")
        Conversation.objects.filter(pk=conversation.pk).update(
            pending_kind="", pending_ref="", pending_data={}, pending_expires_at=None
        )
        conversation.pending_kind = ""
        return elapsed, reply.text

    def fresh(phone: str) -> Conversation:
        contact = Contact.objects.create(phone=phone, wa_id=phone[1:], name="Paciente Bench")
        return Conversation.objects.create(contact=contact, last_activity_at=timezone.now())

    def clear_bookings():
        Appointment.objects.filter(source="whatsapp").delete()

    with FakeLLM() as fake:
        row = AssistantSettings.objects.get()

        # baseline: consent commands
        row.llm_provider = "local"
        row.save()
        conversation = fresh("+5511900000001")
        baseline = [turn(conversation, "PARAR" if i % 2 else "VOLTAR")[0] for i in range(args.turns)]

        # the local engine
        conversation = fresh("+5511900000002")
        local = []
        for index in range(args.turns):
            local.append(turn(conversation, LOCAL_TURNS[index % len(LOCAL_TURNS)])[0])
            clear_bookings()

        # openai through the fake: a check_availability round, then text; the model's time excluded
        row.llm_provider, row.llm_base_url, row.llm_api_key = "openai", fake.openai_url, "sk-bench"
        row.save()
        conversation = fresh("+5511900000003")
        remote = []
        tomorrow = (timezone.localdate() + timezone.timedelta(days=1)).isoformat()
        for index in range(args.turns):
            fake.openai.tool_call("check_availability", {"date_from": tomorrow, "date_to": tomorrow})
            fake.openai.reply("Tenho alguns horários amanhã. Qual prefere?")
            remote.append(turn(conversation, LOCAL_TURNS[index % len(LOCAL_TURNS)])[0])
        assert not fake.problems(), fake.problems()

        # prompt growth over a 50-message conversation (25 patient turns, each answered)
        conversation = fresh("+5511900000004")
        fake.reset()
        prompt_tokens = {}
        for index in range(26):
            fake.openai.reply(
                "Aceitamos Bradesco Saúde sim! A consulta particular custa R$ 250,00 e temos horários de manhã."
            )
            turn(conversation, LONG_CONVERSATION[index % len(LONG_CONVERSATION)])
            message_number = 2 * index + 1  # the patient's message number in the conversation
            request = fake.requests[-1]
            prompt_tokens[message_number] = len(request.body) // 4
        at5, at51 = prompt_tokens[5], prompt_tokens[51]

    floor = statistics.median(baseline)
    print(f"turns per engine: {args.turns}; clinic: demo agenda and persona; model time excluded")
    print(f"baseline (consent command):      {_ms(baseline)}")
    print(f"local engine, whole turn:        {_ms(local)}   ratio {statistics.median(local) / floor:.1f}x")
    print(f"openai via fake, minus model:    {_ms(remote)}   ratio {statistics.median(remote) / floor:.1f}x")
    verdict = "met" if at51 <= 1.3 * at5 else "NOT met"
    print(
        f"prompt tokens (request bytes/4): message 5 {at5}, message 51 {at51}, "
        f"ratio {at51 / at5:.2f} (target <= 1.3: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
