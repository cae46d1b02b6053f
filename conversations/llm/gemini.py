"""Gemini (Developer API, API key) behind our Provider interface, through google-genai.

Wire contract: shared/contracts/llm.md §2. The SDK validates replies with pydantic but returns
"no answer" replies (blocked prompt, candidate without parts) normally, does not wrap transport
errors, and neither retries nor times out unless told to: all of that is handled here.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from typing import Any

from google import genai
from google.genai import errors, types

from conversations.llm.base import (
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMResponse,
    LLMTimeout,
    LLMUnavailable,
    ToolCall,
    ToolSpec,
    Turn,
    redacted,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# Gemini's calls may come without an id; ours then start with this and are never sent back.
LOCAL_CALL_ID_PREFIX = "local-call-"


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(timeouts, all transport errors) of the HTTP libraries the SDK may use: it raises them unwrapped."""
    modules = []
    for name in ("httpx2", "httpx"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return tuple(m.TimeoutException for m in modules), tuple(m.TransportError for m in modules)


_TIMEOUT_ERRORS, _TRANSPORT_ERRORS = _transport_errors()

_clients: dict[tuple, genai.Client] = {}
_clients_lock = threading.Lock()


def _client(
    *,
    api_key: str,
    base_url: str,
    api_version: str,
    timeout: float,
    retries: int,
    initial_delay: float,
    max_delay: float,
    jitter: float,
) -> genai.Client:
    """One long-lived client per configuration. Kept referenced here: a client that is garbage
    collected closes its connection pool under any call still using it."""
    key = (api_key, base_url, api_version, timeout, retries, initial_delay, max_delay, jitter)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = genai.Client(
                api_key=api_key,
                vertexai=False,
                http_options=types.HttpOptions(
                    base_url=base_url,
                    api_version=api_version,
                    timeout=max(1, round(timeout * 1000)),  # milliseconds
                    retry_options=types.HttpRetryOptions(
                        attempts=retries + 1,  # the SDK counts the first attempt
                        initial_delay=initial_delay,
                        max_delay=max_delay,
                        jitter=jitter,
                    ),
                ),
            )
            _clients[key] = client
        return client


class GeminiProvider:
    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str = "",
        temperature: float,
        max_tokens: int,
        timeout_seconds: float,
        retry_attempts: int,
        api_version: str = "v1beta",
        retry_initial_delay: float = 1.0,
        retry_max_delay: float = 8.0,
        retry_jitter: float = 0.5,
    ):
        self.api_key = api_key
        self.model = model
        self.base_url = base_url or DEFAULT_BASE_URL
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_seconds = timeout_seconds
        self.retry_attempts = retry_attempts
        self.api_version = api_version
        # Backoff between retries (the SDK ignores Retry-After): initial_delay × 2ⁿ + up to `jitter` s.
        self.retry_initial_delay = retry_initial_delay
        self.retry_max_delay = retry_max_delay
        self.retry_jitter = retry_jitter

    def __repr__(self) -> str:
        return f"GeminiProvider(model={self.model!r}, base_url={self.base_url!r}, api_version={self.api_version!r})"

    def complete(self, *, system: str, turns: list[Turn], tools: list[ToolSpec]) -> LLMResponse:
        if not self.api_key:  # the SDK would quietly take GOOGLE_API_KEY / GEMINI_API_KEY instead
            raise LLMAuthError(self._message("no API key configured"))
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=self.temperature,
            max_output_tokens=self.max_tokens,
            # declarations only: the dialogue engine runs the tools, never the SDK
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if "flash" in self.model and "2.5" in self.model:
            # 2.5 Flash "thinks" by default inside max_output_tokens: with LLM_MAX_TOKENS=512 the
            # thoughts can eat the whole budget and leave no answer. A secretary needs none.
            config.thinking_config = types.ThinkingConfig(thinking_budget=0)
        if tools:
            config.tools = [
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=t.name, description=t.description, parameters_json_schema=t.parameters
                        )
                        for t in tools
                    ]
                )
            ]
            config.tool_config = types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.AUTO)
            )
        contents = _contents(turns)
        try:
            client = _client(
                api_key=self.api_key,
                base_url=self.base_url,
                api_version=self.api_version,
                timeout=self.timeout_seconds,
                retries=self.retry_attempts,
                initial_delay=self.retry_initial_delay,
                max_delay=self.retry_max_delay,
                jitter=self.retry_jitter,
            )
            response = client.models.generate_content(model=self.model, contents=contents, config=config)
        except Exception as exc:  # noqa: BLE001 - every SDK/transport failure becomes one of ours
            raise self._mapped(exc) from exc
        return self._parse(response)

    # --- reply ------------------------------------------------------------------------------------
    def _parse(self, response: types.GenerateContentResponse) -> LLMResponse:
        candidates = response.candidates or []
        if not candidates:
            feedback = response.prompt_feedback
            reason = feedback.block_reason if feedback and feedback.block_reason else None
            detail = f"prompt blocked ({_name(reason)})" if reason else "no candidates"
            raise LLMBadResponse(self._message(detail))
        candidate = candidates[0]
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        text = "".join(p.text for p in parts if p.text and not p.thought).strip()
        calls = []
        for call in response.function_calls or []:
            if not call.name:
                raise LLMBadResponse(self._message("function call without a name"))
            calls.append(
                ToolCall(
                    id=call.id or f"{LOCAL_CALL_ID_PREFIX}{uuid.uuid4().hex[:16]}",
                    name=call.name,
                    arguments=dict(call.args or {}),
                )
            )
        if not text and not calls:
            reason = _name(candidate.finish_reason) if candidate.finish_reason else "none"
            raise LLMBadResponse(self._message(f"no answer (finish_reason={reason})"))
        usage = response.usage_metadata
        completion = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0) if usage else 0
        return LLMResponse(
            text=text,
            tool_calls=tuple(calls),
            prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
            completion_tokens=completion,  # thoughts are billed as output, as OpenAI's reasoning tokens
            model=response.model_version or self.model,
            native=candidate.content,  # sent back verbatim: it carries the thoughtSignature
        )

    # --- errors -----------------------------------------------------------------------------------
    def _message(self, detail: str) -> str:
        return redacted(f"gemini {self.model}: {detail}", self.api_key)

    def _mapped(self, exc: Exception) -> LLMError:
        if isinstance(exc, errors.APIError):
            status = f" {exc.status}" if exc.status else ""
            detail = self._message(f"HTTP {exc.code}{status}: {exc.message or ''}")
            if isinstance(exc, errors.ClientError):
                if exc.code == 429:
                    return LLMRateLimited(detail)
                if exc.code in (408, 409):
                    return LLMUnavailable(detail)
                if _api_key_invalid(exc):
                    return LLMAuthError(self._message("API key not valid (API_KEY_INVALID)"))
                return LLMAuthError(detail)
            if isinstance(exc, errors.ServerError):
                return LLMUnavailable(detail)
            if isinstance(exc.code, int) and 200 <= exc.code < 300:  # the SDK accepts exactly 200
                return LLMBadResponse(detail)
            return LLMUnavailable(detail)
        if _TIMEOUT_ERRORS and isinstance(exc, _TIMEOUT_ERRORS):
            return LLMTimeout(self._message(f"no answer within {self.timeout_seconds:g} s"))
        if _TRANSPORT_ERRORS and isinstance(exc, _TRANSPORT_ERRORS):
            return LLMUnavailable(self._message(f"connection failed: {type(exc).__name__}: {exc}"))
        if isinstance(exc, ValueError):  # json.JSONDecodeError, pydantic.ValidationError
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            return LLMBadResponse(self._message(f"reply not understood: {type(exc).__name__}: {first_line}"))
        return LLMUnavailable(self._message(f"{type(exc).__name__}: {exc}"))


def _api_key_invalid(exc: errors.APIError) -> bool:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details or [])


def _name(value: Any) -> str:
    return getattr(value, "value", None) or str(value)


def _contents(turns: list[Turn]) -> list[types.Content]:
    contents: list[types.Content] = []
    pending: list[types.Part] = []  # function responses, grouped into one user turn
    for turn in turns:
        if turn.role == "tool":
            pending.append(_function_response(turn))
            continue
        if pending:
            contents.append(types.Content(role="user", parts=pending))
            pending = []
        if turn.role == "assistant":
            contents.append(_model_content(turn))
        else:
            contents.append(types.Content(role="user", parts=[types.Part(text=turn.text)]))
    if pending:
        contents.append(types.Content(role="user", parts=pending))
    return contents


def _model_content(turn: Turn) -> types.Content:
    native = turn.native
    if isinstance(native, types.Content):
        return native
    if isinstance(native, dict):  # the Content after model_dump(mode="json"), e.g. from storage
        try:
            return types.Content.model_validate(native)
        except ValueError:
            pass
    parts = [types.Part(text=turn.text)] if turn.text else []
    for call in turn.tool_calls:
        call_id = None if call.id.startswith(LOCAL_CALL_ID_PREFIX) else call.id or None
        parts.append(
            types.Part(function_call=types.FunctionCall(id=call_id, name=call.name, args=call.arguments or {}))
        )
    return types.Content(role="model", parts=parts)


def _function_response(turn: Turn) -> types.Part:
    # Google reads "output" or "error"; an error result keeps its other keys (hints) beside it.
    response = dict(turn.result) if "error" in turn.result else {"output": turn.result}
    call_id = turn.tool_call_id
    if not call_id or call_id.startswith(LOCAL_CALL_ID_PREFIX):
        return types.Part.from_function_response(name=turn.tool_name, response=response)
    return types.Part(function_response=types.FunctionResponse(id=call_id, name=turn.tool_name, response=response))
