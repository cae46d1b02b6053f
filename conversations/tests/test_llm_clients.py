"""The OpenAI and Gemini clients, driven through the real SDKs over HTTP against FakeLLM
(shared/contracts/llm.md): what goes on the wire, what comes back, and how every failure maps to
our own exceptions."""

from __future__ import annotations

import socket
import time

import pytest

from conversations.llm import openai as openai_module
from conversations.llm.base import (
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ToolCall,
    ToolSpec,
    Turn,
)
from conversations.llm.openai import OpenAIProvider

ALFA_KEY = "sk-alfa-0123456789abcdef"
BETA_KEY = "sk-beta-fedcba9876543210"
SYSTEM = "Você é a secretária da clínica."
QUESTION = Turn(role="user", text="Tem horário segunda com o Dr. 7?")
SLOTS = ToolSpec(
    name="list_free_slots",
    description="List free slots for a doctor on a date",
    parameters={
        "type": "object",
        "required": ["date", "doctor_id"],
        "properties": {"date": {"type": "string"}, "doctor_id": {"type": "integer"}},
    },
)
BOOK = ToolSpec(
    name="book_appointment",
    description="Book a slot",
    parameters={"type": "object", "properties": {"start": {"type": "string"}}},
)


def openai_provider(fake, **overrides) -> OpenAIProvider:
    options = {
        "api_key": ALFA_KEY,
        "model": "gpt-4o-mini",
        "base_url": fake.openai_url,
        "temperature": 0.2,
        "max_tokens": 256,
        "timeout_seconds": 2.0,
        "retry_attempts": 0,
    }
    return OpenAIProvider(**{**options, **overrides})


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def ask(provider, *, turns=None, tools=()):
    return provider.complete(system=SYSTEM, turns=list(turns or [QUESTION]), tools=list(tools))


def raises(exc_type, provider, **kwargs) -> LLMError:
    with pytest.raises(exc_type) as info:
        ask(provider, **kwargs)
    assert not provider.api_key or provider.api_key not in str(info.value)
    return info.value


# --- OpenAI -----------------------------------------------------------------------------------------
def test_openai_text_reply_reads_text_usage_and_model(fake_llm):
    fake_llm.openai.reply("Olá! Como posso ajudar?", model="gpt-4o-mini-2024-07-18")

    response = ask(openai_provider(fake_llm))

    assert response.text == "Olá! Como posso ajudar?"
    assert response.tool_calls == ()
    assert response.model == "gpt-4o-mini-2024-07-18"
    [request] = fake_llm.openai.requests
    assert response.prompt_tokens == len(request.body) // 4 > 0
    assert response.completion_tokens > 0
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {ALFA_KEY}"
    assert request.json["model"] == "gpt-4o-mini"
    assert request.json["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION.text},
    ]
    assert request.json["temperature"] == 0.2
    assert request.json["max_completion_tokens"] == 256
    assert "tools" not in request.json and "tool_choice" not in request.json


def test_openai_tool_call_round_trip_feeds_the_result_back_as_a_tool_message(fake_llm):
    provider = openai_provider(fake_llm)
    fake_llm.openai.tool_call("list_free_slots", {"date": "2025-03-10", "doctor_id": 7}, id="call_abc123")

    first = ask(provider, tools=[SLOTS])

    assert first.text == ""
    assert first.tool_calls == (
        ToolCall(
            id="call_abc123",
            name="list_free_slots",
            arguments={"date": "2025-03-10", "doctor_id": 7},
            raw_arguments='{"date": "2025-03-10", "doctor_id": 7}',
        ),
    )
    sent = fake_llm.openai.requests[0].json
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {"name": SLOTS.name, "description": SLOTS.description, "parameters": SLOTS.parameters},
        }
    ]
    assert sent["tool_choice"] == "auto"

    fake_llm.openai.reply("Temos 9h e 10h30. Qual prefere?")
    turns = [
        QUESTION,
        Turn(role="assistant", tool_calls=first.tool_calls),
        Turn(
            role="tool", tool_call_id="call_abc123", tool_name="list_free_slots", result={"slots": ["09:00", "10:30"]}
        ),
    ]
    second = ask(provider, turns=turns, tools=[SLOTS])

    assert second.text == "Temos 9h e 10h30. Qual prefere?"
    request = fake_llm.openai.requests[1]
    assert request.messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION.text},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "list_free_slots", "arguments": '{"date": "2025-03-10", "doctor_id": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": '{"slots": ["09:00", "10:30"]}'},
    ]
    assert request.json["tools"] == sent["tools"]


def test_openai_tool_result_keeps_accents_and_a_check_sees_it(fake_llm):
    fake_llm.openai.reply(
        "Pronto.", check=lambda req: req.tool_results == [{"id": "c1", "content": {"médico": "Dr. José"}}]
    )
    turns = [
        QUESTION,
        Turn(role="assistant", tool_calls=(ToolCall(id="c1", name="who", arguments={}),)),
        Turn(role="tool", tool_call_id="c1", tool_name="who", result={"médico": "Dr. José"}),
    ]

    assert ask(openai_provider(fake_llm), turns=turns).text == "Pronto."
    assert '"médico"' in fake_llm.openai.requests[0].messages[-1]["content"]


def test_openai_parallel_tool_calls(fake_llm):
    fake_llm.openai.tool_calls(
        [("list_free_slots", {"date": "2025-03-10", "doctor_id": 7}), ("book_appointment", {"start": "09:00"})]
    )

    response = ask(openai_provider(fake_llm), tools=[SLOTS, BOOK])

    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("list_free_slots", {"date": "2025-03-10", "doctor_id": 7}),
        ("book_appointment", {"start": "09:00"}),
    ]
    assert len({c.id for c in response.tool_calls}) == 2


@pytest.mark.parametrize("raw", ['{"date": "2025-03-10"', "[1, 2]", '"texto"'])
def test_openai_arguments_that_are_not_a_json_object_give_none_and_go_back_verbatim(fake_llm, raw):
    provider = openai_provider(fake_llm)
    fake_llm.openai.raw_arguments("list_free_slots", raw, id="call_bad")

    [call] = ask(provider, tools=[SLOTS]).tool_calls

    assert call.arguments is None
    assert call.raw_arguments == raw
    fake_llm.openai.reply("Desculpe, pode repetir a data?")
    turns = [
        QUESTION,
        Turn(role="assistant", tool_calls=(call,)),
        Turn(role="tool", tool_call_id="call_bad", tool_name=call.name, result={"error": "arguments are not JSON"}),
    ]
    ask(provider, turns=turns, tools=[SLOTS])
    assert fake_llm.openai.requests[1].messages[2]["tool_calls"][0]["function"]["arguments"] == raw


def test_openai_missing_usage_counts_zero(fake_llm):
    fake_llm.openai.raw({"choices": [{"message": {"role": "assistant", "content": "oi"}}]})

    response = ask(openai_provider(fake_llm))

    assert (response.text, response.prompt_tokens, response.completion_tokens) == ("oi", 0, 0)
    assert response.model == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, None, LLMAuthError),
        (401, "invalid_api_key", LLMAuthError),
        (403, None, LLMAuthError),
        (404, "model_not_found", LLMAuthError),
        (422, None, LLMAuthError),
        (408, None, LLMUnavailable),
        (409, None, LLMUnavailable),
        (429, "rate_limit_exceeded", LLMRateLimited),
        (429, "insufficient_quota", LLMAuthError),
        (500, None, LLMUnavailable),
        (503, None, LLMUnavailable),
    ],
)
def test_openai_error_statuses_map_to_our_exceptions(fake_llm, status, code, expected):
    fake_llm.openai.error(status, code=code)

    error = raises(expected, openai_provider(fake_llm))

    assert type(error) is expected
    assert str(status) in str(error)
    assert len(fake_llm.openai.requests) == 1  # retry_attempts=0: no SDK retry


def test_openai_429_is_retried_after_retry_after(fake_llm):
    fake_llm.openai.error(429, headers={"Retry-After": "0.3"})
    fake_llm.openai.reply("Agora sim.")

    assert ask(openai_provider(fake_llm, retry_attempts=1)).text == "Agora sim."

    first, second = fake_llm.openai.requests
    assert (first.retry_count, second.retry_count) == (0, 1)
    assert 0.28 <= second.time - first.time < 1.0


def test_openai_429_asking_a_long_wait_is_not_retried(fake_llm):
    fake_llm.openai.error(429, headers={"Retry-After": "30"})
    started = time.monotonic()

    raises(LLMRateLimited, openai_provider(fake_llm, retry_attempts=2))

    assert time.monotonic() - started < 2
    assert len(fake_llm.openai.requests) == 1


def test_openai_500_is_retried_with_backoff_then_succeeds(fake_llm):
    fake_llm.openai.error(500)
    fake_llm.openai.reply("Voltei.")

    assert ask(openai_provider(fake_llm, retry_attempts=1)).text == "Voltei."

    first, second = fake_llm.openai.requests
    assert 0.3 <= second.time - first.time < 1.0  # the SDK's 0.5 s minus up to 25 % jitter


def test_openai_500_every_attempt_gives_unavailable(fake_llm):
    fake_llm.openai.error(503, headers={"retry-after-ms": "20"}, times=3)

    raises(LLMUnavailable, openai_provider(fake_llm, retry_attempts=2))

    assert [r.retry_count for r in fake_llm.openai.requests] == [0, 1, 2]


def test_openai_slow_answer_is_a_timeout(fake_llm):
    fake_llm.openai.delay(0.8).reply("tarde demais")
    started = time.monotonic()

    raises(LLMTimeout, openai_provider(fake_llm, timeout_seconds=0.3))

    assert time.monotonic() - started < 0.75


def test_openai_connection_refused_is_unavailable(fake_llm):
    raises(LLMUnavailable, openai_provider(fake_llm, base_url=closed_port_url() + "/v1"))


@pytest.mark.parametrize(
    "body",
    [
        "<html>Bad gateway</html>",
        [],
        {"foo": 1},
        {"choices": "nope"},
        {"choices": []},
        {"choices": [{"message": "oi"}]},
        {"choices": [{"message": {"role": "assistant", "content": ""}}]},
        {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": "x"}}]},
        {"choices": [{"message": {"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}}]},
        {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "Não posso ajudar."}}]},
    ],
    ids=[
        "not-json",
        "list",
        "no-choices",
        "choices-str",
        "choices-empty",
        "message-str",
        "empty-text",
        "calls-str",
        "call-without-name",
        "refusal",
    ],
)
def test_openai_replies_of_the_wrong_shape_are_bad_responses(fake_llm, body):
    fake_llm.openai.raw(body, content_type="text/html" if isinstance(body, str) else "application/json")

    raises(LLMBadResponse, openai_provider(fake_llm))


def test_openai_per_clinic_key_is_the_one_sent_and_a_wrong_one_never_shows_in_the_error(fake_llm):
    fake_llm.openai.expect_key(ALFA_KEY)
    fake_llm.openai.reply("Olá, Alfa.")

    assert ask(openai_provider(fake_llm)).text == "Olá, Alfa."
    error = raises(LLMAuthError, openai_provider(fake_llm, api_key=BETA_KEY))

    assert [r.key for r in fake_llm.openai.requests] == [ALFA_KEY, BETA_KEY]
    assert fake_llm.openai.requests[1].status == 401
    assert "invalid_api_key" in str(error)
    assert "***" in str(error)  # the fake echoed the key; our message masks it


def test_openai_without_a_key_fails_before_any_request(fake_llm):
    raises(LLMAuthError, openai_provider(fake_llm, api_key=""))

    assert fake_llm.requests == []


def test_openai_clients_are_shared_per_configuration(fake_llm):
    options = {"api_key": ALFA_KEY, "base_url": fake_llm.openai_url, "timeout": 2.0, "retries": 0}
    assert openai_module._client(**options) is openai_module._client(**options)
    assert openai_module._client(**options) is not openai_module._client(**{**options, "api_key": BETA_KEY})
