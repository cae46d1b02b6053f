"""One patient turn through a language model: prompt, tool rounds, checks, metrics, fallback.

The configured provider (per clinic, else LLM_PROVIDER) gets the system prompt, the bounded
history and the tools; its tool calls run in `Toolbox` (at most MAX_TOOL_ROUNDS rounds; a bad
call goes back to it as an error result). When it fails after its retries, or its circuit is
open, the offline `local` engine answers the turn instead. The final text is checked before it
is sent: not empty, no tool syntax or JSON, nothing of the rules echoed back.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from conversations.llm.base import LLMError, LLMResponse, LLMTimeout, Provider, Turn
from conversations.llm.circuit import CircuitBreaker, circuit_id
from conversations.models import AssistantSettings, Conversation, Message
from conversations.persona import assistant_settings
from conversations.prompting import RULES, history_turns, system_prompt
from conversations.tools import SPECS, Toolbox
from conversations.wording import EMERGENCY, MEDICAL, TROUBLE
from secretaria import metrics

log = logging.getLogger(__name__)
MAX_TOOL_ROUNDS = 4
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash", "local": "regras-ptbr"}
TOOL_INTENTS = {
    "book_appointment": "book",
    "reschedule_appointment": "reschedule",
    "cancel_appointment": "cancel",
    "check_availability": "availability",
    "list_my_appointments": "my_appointments",
    "clinic_info": "clinic_info",
    "handoff_to_human": "human",
}
_TOOL_SYNTAX = re.compile(
    r"(\{\s*\"[\w ]+\"\s*:|\"tool_calls\"|\"function_call\"|functionCall|<\/?tool_call>|```|\b(check_availability|"
    r"book_appointment|reschedule_appointment|cancel_appointment|list_my_appointments|clinic_info|handoff_to_human)\s*\()"
)
_RULE_FRAGMENTS = [line.strip()[3:60] for line in RULES.splitlines()[1:] if len(line.strip()) > 40]


@dataclass(frozen=True)
class DialogueReply:
    text: str
    handoff_reason: str = ""
    provider: str = ""
    intent: str = ""


@dataclass(frozen=True)
class ProviderChoice:
    name: str
    model: str
    api_key: str
    base_url: str


def provider_choice(row: AssistantSettings | None = None) -> ProviderChoice:
    """The clinic's provider, model, key and endpoint; empty values mean the global settings."""
    row = row or assistant_settings()
    name = row.llm_provider or settings.LLM_PROVIDER or "local"
    if name not in DEFAULT_MODELS:
        log.error("unknown LLM provider %r, using the local engine", name)
        name = "local"
    model = row.llm_model or settings.LLM_MODEL or DEFAULT_MODELS[name]
    if name == "openai":
        return ProviderChoice(
            name, model, row.llm_api_key or settings.OPENAI_API_KEY, row.llm_base_url or settings.OPENAI_BASE_URL
        )
    if name == "gemini":
        return ProviderChoice(name, model, row.llm_api_key or settings.GEMINI_API_KEY, settings.GEMINI_BASE_URL)
    return ProviderChoice("local", DEFAULT_MODELS["local"], "", "")


def _remote_provider(choice: ProviderChoice) -> Provider:
    common = {
        "api_key": choice.api_key,
        "model": choice.model,
        "base_url": choice.base_url,
        "temperature": settings.LLM_TEMPERATURE,
        "max_tokens": settings.LLM_MAX_TOKENS,
        "timeout_seconds": settings.LLM_TIMEOUT_SECONDS,
        "retry_attempts": settings.LLM_RETRY_ATTEMPTS,
    }
    if choice.name == "openai":
        from conversations.llm.openai import OpenAIProvider

        return OpenAIProvider(**common)
    from conversations.llm.gemini import GeminiProvider

    return GeminiProvider(**common, api_version=settings.GEMINI_API_VERSION)


def _tenant() -> str:
    return connection.schema_name


def _call(provider: Provider, system: str, turns: list[Turn]) -> LLMResponse:
    started = time.perf_counter()
    try:
        response = provider.complete(system=system, turns=turns, tools=SPECS)
    except LLMError as exc:
        metrics.LLM_REQUESTS.labels(_tenant(), provider.name, provider.model, exc.outcome).inc()
        raise
    finally:
        metrics.LLM_LATENCY.labels(provider.name).observe(time.perf_counter() - started)
    metrics.LLM_REQUESTS.labels(_tenant(), provider.name, response.model or provider.model, "ok").inc()
    model = response.model or provider.model
    if response.prompt_tokens:
        metrics.LLM_TOKENS.labels(_tenant(), provider.name, model, "prompt").inc(response.prompt_tokens)
    if response.completion_tokens:
        metrics.LLM_TOKENS.labels(_tenant(), provider.name, model, "completion").inc(response.completion_tokens)
    return response


def text_is_safe(text: str) -> bool:
    """Fit to send: not empty, no tool syntax or JSON, no piece of the rules echoed back."""
    if not text or not text.strip():
        return False
    if _TOOL_SYNTAX.search(text):
        return False
    return not any(fragment and fragment in text for fragment in _RULE_FRAGMENTS)


def _run(
    provider: Provider, toolbox: Toolbox, system: str, turns: list[Turn], *, budget: float | None = None
) -> tuple[str, str]:
    """The tool loop. Returns (final text, provider's intent hint). With `budget` (seconds), no
    new model call starts once it is spent: the patient is not kept waiting for minutes."""
    turns = list(turns)
    hint = ""
    started = time.monotonic()
    for round_number in range(MAX_TOOL_ROUNDS + 1):
        if budget is not None and time.monotonic() - started > budget:
            raise LLMTimeout(f"{provider.name}: turn budget of {budget:.0f} s spent after {round_number} calls")
        response = _call(provider, system, turns)
        hint = getattr(response, "intent", "") or hint
        if not response.tool_calls:
            return response.text, hint
        if round_number == MAX_TOOL_ROUNDS:
            log.warning("%s still calling tools after %s rounds; stopping", provider.name, MAX_TOOL_ROUNDS)
            return "", hint
        turns.append(Turn(role="assistant", text=response.text, tool_calls=response.tool_calls, native=response.native))
        for call in response.tool_calls:
            result = toolbox.run(call)
            turns.append(Turn(role="tool", tool_call_id=call.id, tool_name=call.name, result=result))
    return "", hint


def _intent(toolbox: Toolbox, hint: str) -> str:
    names = [name for name, _ in toolbox.outcomes]
    for tool in ("handoff_to_human", "book_appointment", "reschedule_appointment", "cancel_appointment"):
        if tool in names:
            return TOOL_INTENTS[tool]
    if hint:
        return hint
    return TOOL_INTENTS.get(names[0], "other") if names else "other"


def _fallback_text(toolbox: Toolbox) -> str:
    if toolbox.handoff_reason == "emergency":
        return EMERGENCY
    if toolbox.handoff_reason == "medical_question":
        return MEDICAL
    if toolbox.handoff_reason == "complaint":
        return "Sinto muito pelo transtorno. Vou passar sua mensagem agora para a equipe da clínica."
    if toolbox.handoff_reason:
        return ""
    return TROUBLE


def dialogue_reply(*, conversation: Conversation, messages: list[Message]) -> DialogueReply:
    """The secretary's answer to the patient's burst `messages` (already stored)."""
    from conversations.llm.local import LocalProvider

    choice = provider_choice()
    toolbox = Toolbox(conversation=conversation)
    system = system_prompt(conversation=conversation)
    turns = history_turns(conversation=conversation, current=messages)
    text, hint, used = None, "", "local"
    if choice.name != "local":
        breaker = CircuitBreaker(circuit_id(choice.name, choice.base_url))
        if breaker.allow():
            try:
                budget = max(30.0, 3 * settings.LLM_TIMEOUT_SECONDS)
                text, hint = _run(_remote_provider(choice), toolbox, system, turns, budget=budget)
                breaker.record_success()
                used = choice.name
            except LLMError as exc:
                if exc.transient:
                    breaker.record_failure()
                else:
                    breaker.record_success()  # the service answered; the request or key is wrong
                log.warning("%s failed (%s); the local engine answers this turn", choice.name, exc.outcome)
        else:
            metrics.LLM_REQUESTS.labels(_tenant(), choice.name, choice.model, "circuit_open").inc()
    if text is None:
        local = LocalProvider(conversation=conversation, current=messages)
        try:
            text, hint = _run(local, toolbox, system, turns)
        except LLMError:
            log.exception("local engine failed")
            text = ""
    if not text_is_safe(text):
        if text:
            log.warning("reply from %s withheld: failed the output check", used)
        text = _fallback_text(toolbox)
    elif toolbox.handoff_reason and toolbox.handoff_reason not in ("emergency", "medical_question", "complaint"):
        text = ""  # the transfer message says it
    intent = _intent(toolbox, hint)
    metrics.INTENTS.labels(_tenant(), intent).inc()
    return DialogueReply(text=text, handoff_reason=toolbox.handoff_reason, provider=used, intent=intent)
