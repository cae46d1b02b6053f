"""What every language-model provider takes and returns, and the few ways it can fail.

The dialogue engine speaks only these dataclasses and exceptions; `openai.py`, `gemini.py` and
`local.py` translate them to and from their wire formats (or, for `local`, compute them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: name, description and a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict


@dataclass(frozen=True)
class ToolCall:
    id: str  # provider's call id ("call_abc" / Gemini's optional id); generated when absent
    name: str
    arguments: dict | None  # None when the provider sent something that is not a JSON object
    raw_arguments: str = ""  # as received, for the error fed back to the model


@dataclass(frozen=True)
class Turn:
    """One entry of the conversation given to the model.

    role "user" / "assistant": `text`; an assistant turn may carry `tool_calls` (and `native`, the
    provider's own representation to send back verbatim, e.g. Gemini's content with its
    thoughtSignature). role "tool": the result of one call (`tool_call_id`, `tool_name`, `result`).
    """

    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""
    result: dict = field(default_factory=dict)
    native: Any = None


@dataclass(frozen=True)
class LLMResponse:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    native: Any = None  # the assistant turn as the provider wants it back (see Turn.native)
    intent: str = ""  # what the engine understood, when it knows (the local engine does)


class LLMError(Exception):
    """Base of provider failures. `transient`: worth retrying later / counting in the breaker."""

    transient = True
    outcome = "error"  # the `outcome` label of secretaria_llm_requests_total


class LLMTimeout(LLMError):
    outcome = "timeout"


class LLMRateLimited(LLMError):
    outcome = "rate_limited"


class LLMUnavailable(LLMError):
    """Connection refused, 5xx, or the circuit breaker is open."""

    outcome = "unavailable"


class LLMBadResponse(LLMError):
    """A 200 whose body is not what the API documents (not JSON, wrong shape, no answer)."""

    outcome = "bad_response"


class LLMAuthError(LLMError):
    """Wrong key, no permission, unknown model, rejected request: retrying will not help."""

    transient = False
    outcome = "auth_error"


def redacted(message: str, secret: str, *, limit: int = 300) -> str:
    """An error message fit for our exceptions and logs: the secret (an API key) masked wherever a
    server or SDK repeated it, and the length bounded."""
    if secret:
        message = message.replace(secret, "***")
    return message if len(message) <= limit else message[: limit - 1] + "…"


class Provider(Protocol):
    name: str  # "openai" | "gemini" | "local"
    model: str

    def complete(self, *, system: str, turns: list[Turn], tools: list[ToolSpec]) -> LLMResponse:
        """One model call. Raises only LLMError subclasses."""
