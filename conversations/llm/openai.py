"""OpenAI Chat Completions (or any server speaking it) behind our Provider interface.

Wire contract: shared/contracts/llm.md §1. The SDK sends, retries and raises on HTTP statuses; it
validates no reply, so we read the reply's JSON ourselves and check every shape.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import openai

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

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The SDK obeys a server's Retry-After up to 120 s, sleeping inside a chat worker. Past this many
# seconds we do not retry and raise LLMRateLimited/LLMUnavailable at once; the caller decides.
MAX_SERVER_RETRY_WAIT = 5.0
# 429 codes that no wait fixes: the account is out of credit (OpenAI still answers 429).
PERMANENT_RATE_LIMIT_CODES = {"insufficient_quota"}


class _Client(openai.OpenAI):
    def _should_retry(self, response) -> bool:  # SDK hook, see MAX_SERVER_RETRY_WAIT
        wait = self._parse_retry_after_header(response.headers)
        if wait is not None and wait > MAX_SERVER_RETRY_WAIT:
            return False
        return super()._should_retry(response)


_clients: dict[tuple, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(*, api_key: str, base_url: str, timeout: float, retries: int) -> openai.OpenAI:
    """One client (one connection pool) per configuration, shared by every call in this process."""
    key = (api_key, base_url, timeout, retries)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _Client(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=retries)
            _clients[key] = client
        return client


class OpenAIProvider:
    name = "openai"

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
    ):
        self.api_key = api_key
        self.model = model
        self.base_url = base_url or DEFAULT_BASE_URL
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_seconds = timeout_seconds
        self.retry_attempts = retry_attempts

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={self.base_url!r})"

    def complete(self, *, system: str, turns: list[Turn], tools: list[ToolSpec]) -> LLMResponse:
        if not self.api_key:  # keyless OpenAI-compatible servers take any placeholder
            raise LLMAuthError(self._message("no API key configured"))
        request: dict[str, Any] = {
            "model": self.model,
            "messages": ([{"role": "system", "content": system}] if system else []) + _messages(turns),
            "temperature": self.temperature,
            "max_completion_tokens": self.max_tokens,
        }
        if tools:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
            request["tool_choice"] = "auto"
        try:
            client = _client(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout_seconds,
                retries=self.retry_attempts,
            )
            # The raw response: the parsed one is built without validation, so we check the JSON ourselves.
            raw = client.chat.completions.with_raw_response.create(**request)
            content = raw.http_response.content
        except openai.OpenAIError as exc:
            raise self._mapped(exc) from exc
        try:
            body = json.loads(content)
        except ValueError as exc:
            raise LLMBadResponse(self._message(f"reply is not JSON: {content[:80]!r}")) from exc
        return self._parse(body)

    # --- reply ------------------------------------------------------------------------------------
    def _parse(self, body: Any) -> LLMResponse:
        if not isinstance(body, dict):
            raise LLMBadResponse(self._message(f"reply is a {type(body).__name__}, not an object"))
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LLMBadResponse(self._message("reply has no choices"))
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise LLMBadResponse(self._message("choice has no message"))
        text = _text(message.get("content"))
        calls = _tool_calls(message.get("tool_calls"))
        if calls is None:
            raise LLMBadResponse(self._message("tool_calls malformed"))
        if not text and not calls:
            refusal = message.get("refusal")
            reason = f"refused: {refusal}" if isinstance(refusal, str) and refusal else "empty answer"
            raise LLMBadResponse(self._message(f"{reason} (finish_reason={choices[0].get('finish_reason')})"))
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        model = body.get("model")
        return LLMResponse(
            text=text,
            tool_calls=tuple(calls),
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            model=model if isinstance(model, str) and model else self.model,
        )

    # --- errors -----------------------------------------------------------------------------------
    def _message(self, detail: str) -> str:
        return redacted(f"openai {self.model}: {detail}", self.api_key)

    def _mapped(self, exc: openai.OpenAIError) -> LLMError:
        if isinstance(exc, openai.APITimeoutError):
            return LLMTimeout(self._message(f"no answer within {self.timeout_seconds:g} s"))
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable(self._message(f"connection failed: {exc.__cause__ or exc}"))
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            error = exc.body if isinstance(exc.body, dict) else {}
            code = exc.code or error.get("type") or ""
            text = error.get("message") if isinstance(error.get("message"), str) else str(exc.body or "")[:120]
            detail = self._message(f"HTTP {status}" + (f" {code}" if code else "") + f": {text}")
            if status == 429:
                return (LLMAuthError if code in PERMANENT_RATE_LIMIT_CODES else LLMRateLimited)(detail)
            if status >= 500 or status in (408, 409):
                return LLMUnavailable(detail)
            if 400 <= status < 500:
                return LLMAuthError(detail)
            return LLMBadResponse(detail)
        if isinstance(exc, openai.APIResponseValidationError):
            return LLMBadResponse(self._message(f"reply rejected by the SDK: {exc}"))
        # OpenAIError itself: the client could not even be built (e.g. no key at all).
        return LLMAuthError(self._message(f"{type(exc).__name__}: {exc}"))


def _messages(turns: list[Turn]) -> list[dict]:
    messages: list[dict] = []
    for turn in turns:
        if turn.role == "tool":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": turn.tool_call_id,
                    "content": json.dumps(turn.result, ensure_ascii=False),
                }
            )
        elif turn.role == "assistant" and turn.tool_calls:
            messages.append(
                {
                    "role": "assistant",
                    "content": turn.text or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": call.raw_arguments or json.dumps(call.arguments or {}, ensure_ascii=False),
                            },
                        }
                        for call in turn.tool_calls
                    ],
                }
            )
        else:
            messages.append({"role": turn.role, "content": turn.text})
    return messages


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):  # some compatible servers answer in parts
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)).strip()
    return ""


def _tool_calls(entries: Any) -> list[ToolCall] | None:
    """The calls of a message; None when they are there but not in the documented shape."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        return None
    calls = []
    for entry in entries:
        function = entry.get("function") if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            return None
        raw = function.get("arguments")
        if isinstance(raw, dict):  # not what OpenAI sends, but unambiguous
            raw = json.dumps(raw, ensure_ascii=False)
        raw = raw if isinstance(raw, str) else ""
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = None
        call_id = entry.get("id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else f"call_{uuid.uuid4().hex[:24]}",
                name=function["name"],
                arguments=arguments if isinstance(arguments, dict) else None,
                raw_arguments=raw,
            )
        )
    return calls


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
