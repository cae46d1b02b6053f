"""The OpenAI and Gemini clients, driven through the real SDKs over HTTP against FakeLLM
(shared/contracts/llm.md): what goes on the wire, what comes back, and how every failure maps to
our own exceptions."""

from __future__ import annotations

import json
import socket
import time

import pytest
from google.genai import types

from conversations.llm import gemini as gemini_module
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
from conversations.llm.gemini import GeminiProvider
from conversations.llm.openai import OpenAIProvider

ALFA_KEY = "sk-alfa-0123456789abcdef"
BETA_KEY = "sk-beta-fedcba9876543210"
GEMINI_ALFA_KEY = "AIzaSy-alfa-0123456789"
GEMINI_BETA_KEY = "AIzaSy-beta-9876543210"
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
# Standard-alphabet base64 with "+" and "/": the SDK sends it back URL-safe ("-" and "_").
SIGNATURE = b"\xfb\xff\xbf\xfe sig-1"


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


def gemini_provider(fake, **overrides) -> GeminiProvider:
    options = {
        "api_key": GEMINI_ALFA_KEY,
        "model": "gemini-2.5-flash",
        "base_url": fake.gemini_url,
        "temperature": 0.2,
        "max_tokens": 256,
        "timeout_seconds": 2.0,
        "retry_attempts": 0,
        "retry_initial_delay": 0.05,
        "retry_jitter": 0.0,
    }
    return GeminiProvider(**{**options, **overrides})


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


# --- Gemini -----------------------------------------------------------------------------------------
def test_gemini_text_reply_reads_text_usage_and_model(fake_llm):
    fake_llm.gemini.reply("Olá! Como posso ajudar?", model="gemini-2.5-flash-001", usage={"thoughtsTokenCount": 10})

    response = ask(gemini_provider(fake_llm))

    assert response.text == "Olá! Como posso ajudar?"
    assert response.tool_calls == ()
    assert response.model == "gemini-2.5-flash-001"
    [request] = fake_llm.gemini.requests
    assert response.prompt_tokens == len(request.body) // 4 > 0
    assert response.completion_tokens > 10  # candidates + thoughts
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["X-Goog-Api-Key"] == GEMINI_ALFA_KEY
    body = request.gemini
    assert body["contents"] == [{"role": "user", "parts": [{"text": QUESTION.text}]}]
    assert body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 256,
        "thinkingConfig": {"thinkingBudget": 0},  # 2.5 Flash: no thoughts eating the budget
    }
    assert "tools" not in body


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_gemini_api_version_is_pinned_in_the_path(fake_llm, version):
    fake_llm.gemini.reply("ok")

    ask(gemini_provider(fake_llm, api_version=version))

    assert fake_llm.gemini.requests[0].path == f"/{version}/models/gemini-2.5-flash:generateContent"
    assert fake_llm.gemini.requests[0].api_version == version


def test_gemini_function_call_round_trip_replays_the_signed_model_turn(fake_llm):
    provider = gemini_provider(fake_llm)
    fake_llm.gemini.tool_call(
        "list_free_slots", {"date": "2025-03-10", "doctor_id": 7}, id="fc-1", thought_signature=SIGNATURE
    )

    first = ask(provider, tools=[SLOTS])

    assert first.tool_calls == (
        ToolCall(id="fc-1", name="list_free_slots", arguments={"date": "2025-03-10", "doctor_id": 7}),
    )
    sent = fake_llm.gemini.requests[0].gemini
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {"name": SLOTS.name, "description": SLOTS.description, "parametersJsonSchema": SLOTS.parameters}
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}

    fake_llm.gemini.reply("Temos 9h e 10h30. Qual prefere?")
    turns = [
        QUESTION,
        Turn(role="assistant", tool_calls=first.tool_calls, native=first.native),
        Turn(role="tool", tool_call_id="fc-1", tool_name="list_free_slots", result={"slots": ["09:00", "10:30"]}),
    ]
    second = ask(provider, turns=turns, tools=[SLOTS])

    assert second.text == "Temos 9h e 10h30. Qual prefere?"
    request = fake_llm.gemini.requests[1]
    user, model, results = request.contents
    assert user == {"role": "user", "parts": [{"text": QUESTION.text}]}
    assert model["role"] == "model"
    [call_part] = model["parts"]
    assert call_part["functionCall"] == {
        "id": "fc-1",
        "name": "list_free_slots",
        "args": {"date": "2025-03-10", "doctor_id": 7},
    }
    assert request.thought_signatures == [SIGNATURE]  # byte-equal, whatever the base64 alphabet
    assert results == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": "fc-1",
                    "name": "list_free_slots",
                    "response": {"output": {"slots": ["09:00", "10:30"]}},
                }
            }
        ],
    }


def test_gemini_parallel_calls_are_answered_in_one_user_turn(fake_llm):
    provider = gemini_provider(fake_llm)
    fake_llm.gemini.tool_calls(
        [
            {"name": "list_free_slots", "args": {"date": "2025-03-10", "doctor_id": 7}, "thought_signature": SIGNATURE},
            {"name": "list_free_slots", "args": {"date": "2025-03-11", "doctor_id": 7}},
        ]
    )

    first = ask(provider, tools=[SLOTS])

    assert [c.arguments["date"] for c in first.tool_calls] == ["2025-03-10", "2025-03-11"]
    assert all(c.id.startswith(gemini_module.LOCAL_CALL_ID_PREFIX) for c in first.tool_calls)
    fake_llm.gemini.reply("Segunda e terça às 9h.")
    turns = [
        QUESTION,
        Turn(role="assistant", tool_calls=first.tool_calls, native=first.native),
        *(
            Turn(role="tool", tool_call_id=c.id, tool_name=c.name, result={"slots": [c.arguments["date"]]})
            for c in first.tool_calls
        ),
    ]
    ask(provider, turns=turns, tools=[SLOTS])

    request = fake_llm.gemini.requests[1]
    assert len(request.contents) == 3
    assert request.tool_results == [  # no id: Gemini gave none, ours stay local
        {"id": None, "name": "list_free_slots", "response": {"output": {"slots": ["2025-03-10"]}}},
        {"id": None, "name": "list_free_slots", "response": {"output": {"slots": ["2025-03-11"]}}},
    ]
    assert request.thought_signatures == [SIGNATURE]


def test_gemini_error_result_goes_back_under_error(fake_llm):
    fake_llm.gemini.reply(
        "Esse horário não existe.",
        check=lambda req: req.tool_results[0]["response"] == {"error": "slot taken", "hint": "offer another"},
    )
    turns = [
        QUESTION,
        Turn(
            role="assistant", tool_calls=(ToolCall(id="fc-9", name="book_appointment", arguments={"start": "09:00"}),)
        ),
        Turn(
            role="tool",
            tool_call_id="fc-9",
            tool_name="book_appointment",
            result={"error": "slot taken", "hint": "offer another"},
        ),
    ]

    assert ask(gemini_provider(fake_llm), turns=turns, tools=[BOOK]).text == "Esse horário não existe."
    # rebuilt without a native turn: the call is sent as we know it, with no signature to replay
    model = fake_llm.gemini.requests[0].contents[1]
    assert model["parts"] == [{"functionCall": {"id": "fc-9", "name": "book_appointment", "args": {"start": "09:00"}}}]


def test_gemini_native_turn_survives_a_json_round_trip(fake_llm):
    provider = gemini_provider(fake_llm)
    fake_llm.gemini.tool_call("list_free_slots", {"date": "2025-03-10", "doctor_id": 7}, thought_signature=SIGNATURE)
    first = ask(provider, tools=[SLOTS])
    stored = json.loads(json.dumps(first.native.model_dump(mode="json", exclude_none=True)))
    fake_llm.gemini.reply("ok")

    turns = [
        QUESTION,
        Turn(role="assistant", tool_calls=first.tool_calls, native=stored),
        Turn(role="tool", tool_call_id=first.tool_calls[0].id, tool_name="list_free_slots", result={"slots": []}),
    ]
    ask(provider, turns=turns, tools=[SLOTS])

    assert fake_llm.gemini.requests[1].thought_signatures == [SIGNATURE]
    assert isinstance(first.native, types.Content)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, LLMAuthError),
        (401, LLMAuthError),
        (403, LLMAuthError),
        (404, LLMAuthError),
        (408, LLMUnavailable),
        (429, LLMRateLimited),
        (500, LLMUnavailable),
        (503, LLMUnavailable),
    ],
)
def test_gemini_error_statuses_map_to_our_exceptions(fake_llm, status, expected):
    fake_llm.gemini.error(status)

    error = raises(expected, gemini_provider(fake_llm))

    assert type(error) is expected
    assert str(status) in str(error)
    assert len(fake_llm.gemini.requests) == 1


def test_gemini_bad_key_is_an_auth_error_and_the_key_stays_out_of_it(fake_llm):
    fake_llm.gemini.expect_key(GEMINI_ALFA_KEY)
    fake_llm.gemini.reply("Olá, Alfa.")

    assert ask(gemini_provider(fake_llm)).text == "Olá, Alfa."
    error = raises(LLMAuthError, gemini_provider(fake_llm, api_key=GEMINI_BETA_KEY))

    assert "API_KEY_INVALID" in str(error)
    assert [r.key for r in fake_llm.gemini.requests] == [GEMINI_ALFA_KEY, GEMINI_BETA_KEY]
    assert fake_llm.gemini.requests[1].status == 400


def test_gemini_without_a_key_fails_instead_of_using_the_environment(fake_llm, monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaSy-server-wide-key")

    raises(LLMAuthError, gemini_provider(fake_llm, api_key=""))

    assert fake_llm.requests == []


def test_gemini_scripted_api_key_invalid(fake_llm):
    fake_llm.gemini.api_key_invalid()

    assert "API_KEY_INVALID" in str(raises(LLMAuthError, gemini_provider(fake_llm)))


def test_gemini_503_is_retried_with_our_backoff_then_succeeds(fake_llm):
    fake_llm.gemini.error(503)
    fake_llm.gemini.reply("Voltei.")

    assert ask(gemini_provider(fake_llm, retry_attempts=1, retry_initial_delay=0.1)).text == "Voltei."

    first, second = fake_llm.gemini.requests
    assert 0.09 <= second.time - first.time < 0.6


def test_gemini_429_ignores_retry_after_and_exhausts_attempts(fake_llm):
    fake_llm.gemini.error(429, retry_delay="30s", headers={"Retry-After": "30"}, times=3)
    started = time.monotonic()

    raises(LLMRateLimited, gemini_provider(fake_llm, retry_attempts=2))

    assert len(fake_llm.gemini.requests) == 3
    assert time.monotonic() - started < 2


def test_gemini_slow_answer_is_a_timeout(fake_llm):
    fake_llm.gemini.delay(0.8).reply("tarde demais")
    started = time.monotonic()

    raises(LLMTimeout, gemini_provider(fake_llm, timeout_seconds=0.3))

    assert time.monotonic() - started < 0.75


def test_gemini_connection_refused_is_unavailable(fake_llm):
    raises(LLMUnavailable, gemini_provider(fake_llm, base_url=closed_port_url()))


def test_gemini_blocked_prompt_is_a_bad_response(fake_llm):
    fake_llm.gemini.blocked("SAFETY")

    assert "SAFETY" in str(raises(LLMBadResponse, gemini_provider(fake_llm)))


def test_gemini_max_tokens_without_parts_is_a_bad_response(fake_llm):
    fake_llm.gemini.max_tokens()

    assert "MAX_TOKENS" in str(raises(LLMBadResponse, gemini_provider(fake_llm)))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("<html>oops</html>", 200),
        ({"candidates": [{"content": {"parts": "x"}}]}, 200),
        ({"candidates": [{"content": {"parts": [{"text": 5}]}}]}, 200),
        ({"candidates": "nope"}, 200),
        ({"foo": 1}, 200),
        ({"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}, 200),
        ({"candidates": [{"content": {"parts": [{"text": "oi"}]}}]}, 201),
    ],
    ids=["not-json", "parts-str", "text-int", "candidates-str", "no-candidates", "call-without-name", "status-201"],
)
def test_gemini_replies_of_the_wrong_shape_are_bad_responses(fake_llm, body, status):
    fake_llm.gemini.raw(body, status=status, content_type="text/html" if isinstance(body, str) else "application/json")

    raises(LLMBadResponse, gemini_provider(fake_llm))


def test_gemini_minimal_reply_without_usage(fake_llm):
    fake_llm.gemini.raw({"candidates": [{"content": {"parts": [{"text": "oi"}]}}]})

    response = ask(gemini_provider(fake_llm))

    assert (response.text, response.prompt_tokens, response.completion_tokens) == ("oi", 0, 0)
    assert response.model == "gemini-2.5-flash"


def test_gemini_clients_are_shared_per_configuration(fake_llm):
    options = {
        "api_key": GEMINI_ALFA_KEY,
        "base_url": fake_llm.gemini_url,
        "api_version": "v1beta",
        "timeout": 2.0,
        "retries": 0,
        "initial_delay": 0.05,
        "max_delay": 1.0,
        "jitter": 0.0,
    }
    assert gemini_module._client(**options) is gemini_module._client(**options)
    assert gemini_module._client(**options) is not gemini_module._client(**{**options, "api_version": "v1"})
