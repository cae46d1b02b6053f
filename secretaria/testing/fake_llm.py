"""A fake of both language-model APIs on 127.0.0.1 (contracts/llm.md §3): OpenAI Chat Completions
and audio transcriptions, and Gemini generateContent, each answering from a FIFO script.

A test states only what matters and the builders fill ids, timestamps and usage:

    fake.openai.tool_call("list_free_slots", {"date": "2025-03-10"})
    fake.openai.reply("Temos 9h e 10h30.", check=lambda req: req.tool_results)
    fake.gemini.delay(0.4).reply("tarde demais")      # answered after 0.4 s (interruptible)
    fake.gemini.error(429, times=2)

Every request is recorded (`fake.requests`, or `fake.openai.requests`); a request that finds its
provider's script empty gets a 599 and lands in `fake.unexpected`, so SDK retries nobody planned
for are caught instead of quietly answered.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from secretaria.testing.http_fake import LocalHTTPFake

UNEXPECTED_STATUS = 599  # not a real HTTP status: nobody mistakes it for a scripted error
OPENAI_CHAT = re.compile(r"^/v1/chat/completions$")
OPENAI_TRANSCRIPTIONS = re.compile(r"^/v1/audio/transcriptions$")
GEMINI_GENERATE = re.compile(r"^/(?P<version>v1|v1beta)/models/(?P<model>[^/:]+):generateContent$")

# Environment variables the SDKs read behind our back; the `fake_llm` fixture clears them.
PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_HTTP_CLIENT",
    "GOOGLE_GEMINI_BASE_URL",
)

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
OPENAI_ERROR = {  # status: (type, code, message)
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    408: ("server_error", "timeout", "Request timed out."),
    409: ("server_error", "conflict", "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def b64_bytes(value: str | bytes) -> bytes:
    """Decode base64 in either alphabet, padded or not (Gemini's thoughtSignature comes back URL-safe)."""
    text = value.decode() if isinstance(value, bytes) else value
    text = text.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


# Values under these keys are the caller's own data (arguments, results, schemas): keys kept as sent.
_OPAQUE_GEMINI_KEYS = {"args", "response", "parameters", "parametersJsonSchema", "responseJsonSchema", "responseSchema"}


def gemini_camel(obj: Any) -> Any:
    """A Gemini request with every field name in camelCase (the SDK mixes in snake_case, Google takes both)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            name = _camel(key) if isinstance(key, str) else key
            out[name] = value if name in _OPAQUE_GEMINI_KEYS else gemini_camel(value)
        return out
    if isinstance(obj, list):
        return [gemini_camel(item) for item in obj]
    return obj


class Headers(dict):
    """Request headers with case-insensitive look-ups (keys stored lower-case)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        super().__init__((key.lower(), value) for key, value in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class FormPart:
    """One field of a multipart/form-data body; `filename` and `content_type` set for files."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str = "text/plain"

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class LLMRequest:
    """One request as the fake received it."""

    provider: str  # "openai" | "gemini" | "" (no route)
    endpoint: str  # "chat" | "transcription" | "generate" | ""
    method: str
    path: str
    query: dict
    headers: Headers
    body: bytes
    json: Any = None
    parts: list[FormPart] = field(default_factory=list)
    time: float = 0.0  # time.monotonic() on arrival
    model: str = ""
    api_version: str = ""  # Gemini: v1 or v1beta, from the path
    status: int = 0  # what the fake answered (0: nothing, e.g. a delay cut short)
    step: Step | None = None

    @property
    def key(self) -> str:
        """The API key presented: bearer token (openai), x-goog-api-key or ?key= (Gemini)."""
        if self.provider == "openai":
            value = self.headers.get("authorization", "")
            return value[7:] if value.lower().startswith("bearer ") else ""
        return self.headers.get("x-goog-api-key") or self.query.get("key", "")

    @property
    def retry_count(self) -> int:
        """openai's x-stainless-retry-count (0 on the first attempt)."""
        return int(self.headers.get("x-stainless-retry-count") or 0)

    @property
    def gemini(self) -> dict:
        """The Gemini body with camelCase field names throughout."""
        return gemini_camel(self.json) if isinstance(self.json, dict) else {}

    @property
    def messages(self) -> list:
        return self.json.get("messages", []) if isinstance(self.json, dict) else []

    @property
    def contents(self) -> list:
        return self.gemini.get("contents", [])

    @property
    def form(self) -> dict[str, str]:
        return {part.name: part.text for part in self.parts if part.filename is None}

    @property
    def file(self) -> FormPart | None:
        return next((part for part in self.parts if part.filename is not None), None)

    @property
    def tool_results(self) -> list[dict]:
        """Results fed back to the model. openai: {"id", "content"} per `role: tool` message (content
        parsed when JSON); Gemini: {"id", "name", "response"} per functionResponse part."""
        found = []
        if self.provider == "openai":
            for message in self.messages:
                if isinstance(message, dict) and message.get("role") == "tool":
                    content = message.get("content")
                    with contextlib.suppress(TypeError, ValueError):
                        content = json.loads(content)
                    found.append({"id": message.get("tool_call_id"), "content": content})
        else:
            for content in self.contents:
                for part in content.get("parts") or []:
                    response = part.get("functionResponse")
                    if response is not None:
                        found.append(
                            {
                                "id": response.get("id"),
                                "name": response.get("name"),
                                "response": response.get("response"),
                            }
                        )
        return found

    @property
    def thought_signatures(self) -> list[bytes]:
        """Every Gemini thoughtSignature sent back, decoded (compare these, not the base64 text)."""
        return [
            b64_bytes(part["thoughtSignature"])
            for content in self.contents
            for part in content.get("parts") or []
            if part.get("thoughtSignature")
        ]


@dataclass
class Step:
    """One scripted answer. `respond(request)` gives (status, headers, body, content type)."""

    description: str
    respond: Callable[[LLMRequest], tuple[int, dict, bytes, str]]
    endpoint: str | None = None  # None: answers any endpoint of its provider
    delay: float = 0.0
    check: Callable[[LLMRequest], Any] | None = None
    request: LLMRequest | None = None  # the request it answered

    def __repr__(self) -> str:
        return f"<Step {self.description}>"


def _json_body(status: int, body: Any, headers: dict | None = None) -> tuple[int, dict, bytes, str]:
    return status, dict(headers or {}), json.dumps(body, ensure_ascii=False).encode(), "application/json"


def _estimate_tokens(payload: Any) -> int:
    """Deterministic stand-in for a tokenizer: about four bytes of JSON per token."""
    if isinstance(payload, bytes):
        size = len(payload)
    else:
        size = len(payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False).encode())
    return max(1, size // 4)


class _Script:
    """The script of one provider. Builders append a step and return it; `delay()`/`check()` give a
    view whose builders add that modifier to the steps they append."""

    provider = ""

    def __init__(self, fake: FakeLLM, *, delay: float = 0.0, check: Callable | None = None):
        self._fake = fake
        self._delay = delay
        self._check = check

    # --- modifiers, inspection ---------------------------------------------------------------------
    def delay(self, seconds: float) -> _Script:
        """`fake.openai.delay(0.5).reply("x")`: the next step is answered after `seconds`."""
        return type(self)(self._fake, delay=seconds, check=self._check)

    def check(self, func: Callable[[LLMRequest], Any]) -> _Script:
        """`fake.openai.check(fn).reply("x")`: `fn(request)` runs before answering; if it raises or
        returns something falsy other than None, the step answers 599 and the failure lands in
        `fake.failures`."""
        return type(self)(self._fake, delay=self._delay, check=func)

    def expect_key(self, *keys: str) -> None:
        """Accept only these API keys (none given: accept any); others get the provider's bad-key error
        and consume no step."""
        self._fake._keys[self.provider] = set(keys)

    @property
    def requests(self) -> list[LLMRequest]:
        return [req for req in self._fake.requests if req.provider == self.provider]

    @property
    def pending(self) -> list[Step]:
        with self._fake._lock:
            return list(self._fake._queues[self.provider])

    def push(self, step: Step, *, times: int = 1, delay: float | None = None, check: Callable | None = None) -> Step:
        step = replace(
            step,
            delay=self._delay if delay is None else delay,
            check=check or self._check,
        )
        copies = [step] + [replace(step) for _ in range(times - 1)]
        with self._fake._lock:
            self._fake._queues[self.provider].extend(copies)
        return step

    def raw(
        self,
        body: bytes | str | dict | list,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict | None = None,
        **modifiers,
    ) -> Step:
        """Any body as given: not JSON, wrong shapes, odd statuses."""
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
        else:
            payload = body.encode() if isinstance(body, str) else body

        def respond(req):
            return status, dict(headers or {}), payload, content_type

        return self.push(Step(f"raw {status}", respond), **modifiers)


class OpenAIScript(_Script):
    provider = "openai"

    def _completion(self, req: LLMRequest, message: dict, finish_reason: str, model: str | None, usage) -> dict:
        body = {
            "id": f"chatcmpl-{self._fake._next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or req.model or "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "system_fingerprint": "fp_fake",
        }
        if usage is not False:
            prompt = _estimate_tokens(req.body)
            completion = _estimate_tokens({k: v for k, v in message.items() if k in ("content", "tool_calls")})
            body["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                **(usage or {}),
            }
        return body

    def _message_step(self, description, message, finish_reason, model, usage, modifiers) -> Step:
        def respond(req):
            return _json_body(200, self._completion(req, message, finish_reason, model, usage))

        return self.push(Step(description, respond, endpoint="chat"), **modifiers)

    def reply(
        self,
        text: str,
        *,
        finish_reason: str = "stop",
        model: str | None = None,
        usage: dict | bool | None = None,
        **modifiers,
    ) -> Step:
        """A plain text answer. `usage`: None estimates it, a dict overrides fields, False omits it."""
        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        return self._message_step(f"reply {text[:30]!r}", message, finish_reason, model, usage, modifiers)

    def tool_call(
        self, name: str, arguments: dict | None = None, *, id: str | None = None, text: str | None = None, **modifiers
    ) -> Step:
        return self.tool_calls([{"name": name, "arguments": arguments or {}, "id": id}], text=text, **modifiers)

    def raw_arguments(self, name: str, arguments: str, *, id: str | None = None, **modifiers) -> Step:
        """A tool call whose `arguments` string is sent as given (e.g. not JSON, or a JSON list)."""
        return self.tool_calls([{"name": name, "arguments": arguments, "id": id}], **modifiers)

    def tool_calls(
        self,
        calls: Iterable[dict | tuple],
        *,
        text: str | None = None,
        model: str | None = None,
        usage: dict | bool | None = None,
        **modifiers,
    ) -> Step:
        """Several calls in one answer (parallel). Each: (name, arguments) or {"name", "arguments", "id"};
        dict arguments are JSON-encoded, a str goes out verbatim."""
        entries = []
        for call in calls:
            if isinstance(call, tuple):
                call = {"name": call[0], "arguments": call[1]}
            arguments = call.get("arguments", {})
            entries.append(
                {
                    "id": call.get("id") or f"call_{self._fake._next_id():06d}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else json.dumps(arguments, ensure_ascii=False),
                    },
                }
            )
        message = {"role": "assistant", "content": text, "tool_calls": entries, "refusal": None, "annotations": []}
        names = ", ".join(entry["function"]["name"] for entry in entries)
        return self._message_step(f"tool_calls {names}", message, "tool_calls", model, usage, modifiers)

    def error(
        self,
        status: int,
        *,
        message: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict | None = None,
        times: int = 1,
        **modifiers,
    ) -> Step:
        """An error in OpenAI's envelope; `headers` e.g. {"Retry-After": "1"}, {"x-should-retry": "false"}."""
        default_type, default_code, default_message = OPENAI_ERROR.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
        )
        body = {
            "error": {
                "message": message or default_message,
                "type": type or default_type,
                "param": None,
                "code": code or default_code,
            }
        }
        all_headers = {"x-request-id": f"req_{status}_fake", **(headers or {})}

        def respond(req):
            return _json_body(status, body, all_headers)

        return self.push(Step(f"error {status} {body['error']['code']}", respond), times=times, **modifiers)

    def transcription(self, text: str, *, usage: dict | None = None, **modifiers) -> Step:
        """A voice note's transcription; JSON by default, text/plain when `response_format=text` was asked."""

        def respond(req):
            if req.form.get("response_format") == "text":
                return 200, {}, text.encode(), "text/plain; charset=utf-8"
            seconds = max(0.1, round(len(req.file.data if req.file else b"") / 4000, 1))  # ~32 kbit/s
            return _json_body(200, {"text": text, "usage": usage or {"type": "duration", "seconds": seconds}})

        return self.push(Step(f"transcription {text[:30]!r}", respond, endpoint="transcription"), **modifiers)


def _signature_text(value: str | bytes | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return base64.b64encode(value).decode()


class GeminiScript(_Script):
    provider = "gemini"

    def _usage(self, req: LLMRequest, parts: list | None, usage) -> dict | None:
        if usage is False:
            return None
        prompt = _estimate_tokens(req.body)
        figures = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        if parts:
            completion = _estimate_tokens([{k: v for k, v in p.items() if k != "thoughtSignature"} for p in parts])
            figures.update(candidatesTokenCount=completion, totalTokenCount=prompt + completion)
        figures.update(usage or {})
        return figures

    def _response(
        self, description: str, parts: list | None, finish_reason: str, model: str | None, usage, modifiers
    ) -> Step:
        def respond(req):
            content: dict = {"role": "model"}
            if parts:
                content["parts"] = parts
            body: dict = {
                "candidates": [{"content": content, "finishReason": finish_reason, "index": 0}],
                "modelVersion": model or req.model or "gemini-2.5-flash",
                "responseId": f"resp-{self._fake._next_id()}",
            }
            figures = self._usage(req, parts, usage)
            if figures is not None:
                body["usageMetadata"] = figures
            return _json_body(200, body)

        return self.push(Step(description, respond, endpoint="generate"), **modifiers)

    def reply(
        self,
        text: str,
        *,
        finish_reason: str = "STOP",
        thought_signature: str | bytes | None = None,
        model: str | None = None,
        usage: dict | bool | None = None,
        **modifiers,
    ) -> Step:
        """A text answer. `usage`: None estimates it, a dict (camelCase) overrides fields, False omits it.
        `thought_signature`: bytes (sent base64) or the base64 text itself."""
        part: dict = {"text": text}
        if thought_signature is not None:
            part["thoughtSignature"] = _signature_text(thought_signature)
        return self._response(f"reply {text[:30]!r}", [part], finish_reason, model, usage, modifiers)

    def tool_call(
        self,
        name: str,
        args: dict | None = None,
        *,
        id: str | None = None,
        thought_signature: str | bytes | None = None,
        **modifiers,
    ) -> Step:
        call = {"name": name, "args": args or {}, "id": id, "thought_signature": thought_signature}
        return self.tool_calls([call], **modifiers)

    function_call = tool_call

    def tool_calls(
        self,
        calls: Iterable[dict | tuple],
        *,
        text: str | None = None,
        model: str | None = None,
        usage: dict | bool | None = None,
        **modifiers,
    ) -> Step:
        """functionCall parts in one answer (parallel). Each: (name, args) or {"name", "args", "id",
        "thought_signature"}; Gemini puts the signature on the first call only, so should tests."""
        parts: list = [{"text": text}] if text else []
        for call in calls:
            if isinstance(call, tuple):
                call = {"name": call[0], "args": call[1]}
            function_call = {"name": call["name"], "args": call.get("args", call.get("arguments", {}))}
            if call.get("id"):
                function_call["id"] = call["id"]
            part: dict = {"functionCall": function_call}
            if call.get("thought_signature") is not None:
                part["thoughtSignature"] = _signature_text(call["thought_signature"])
            parts.append(part)
        names = ", ".join(p["functionCall"]["name"] for p in parts if "functionCall" in p)
        return self._response(f"function_calls {names}", parts, "STOP", model, usage, modifiers)

    def blocked(self, reason: str = "SAFETY", **modifiers) -> Step:
        """The prompt was blocked: no candidates, only promptFeedback."""

        def respond(req):
            body = {
                "promptFeedback": {"blockReason": reason},
                "usageMetadata": self._usage(req, None, None),
                "modelVersion": req.model,
            }
            return _json_body(200, body)

        return self.push(Step(f"blocked {reason}", respond, endpoint="generate"), **modifiers)

    def max_tokens(self, **modifiers) -> Step:
        """A candidate cut at the output limit before any part (thinking used the budget)."""
        return self._response("max_tokens", None, "MAX_TOKENS", None, {"thoughtsTokenCount": 512}, modifiers)

    def error(
        self,
        status: int,
        *,
        message: str | None = None,
        status_name: str | None = None,
        details: list | None = None,
        retry_delay: str | None = None,
        headers: dict | None = None,
        times: int = 1,
        **modifiers,
    ) -> Step:
        """An error in Google's envelope; `retry_delay="2s"` adds a RetryInfo detail."""
        details = list(details or [])
        if retry_delay:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        error: dict = {
            "code": status,
            "message": message or f"Fake error {status}.",
            "status": status_name or GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = details
        if status == 429 and message is None:
            error["message"] = "Resource has been exhausted (e.g. check quota)."

        def respond(req):
            return _json_body(status, {"error": error}, headers)

        return self.push(Step(f"error {status} {error['status']}", respond), times=times, **modifiers)

    def api_key_invalid(self, **modifiers) -> Step:
        """What Google answers a bad key: 400 INVALID_ARGUMENT with ErrorInfo API_KEY_INVALID."""
        return self.push(Step("api_key_invalid", lambda req: _gemini_bad_key()), **modifiers)


def _gemini_bad_key() -> tuple[int, dict, bytes, str]:
    message = "API key not valid. Please pass a valid API key."
    body = {
        "error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
            ],
        }
    }
    return _json_body(400, body)


def _openai_bad_key(key: str) -> tuple[int, dict, bytes, str]:
    # OpenAI masks most of the key in this message; the fake echoes it whole, the worst case, so that
    # tests prove our exceptions never repeat what a server said about the key.
    message = (
        f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."
    )
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    return _json_body(401, body, {"x-request-id": "req_401_fake"})


def _openai_envelope(status: int, message: str, code: str) -> tuple[int, dict, bytes, str]:
    return _json_body(status, {"error": {"message": message, "type": "fake_llm", "param": None, "code": code}})


def _gemini_envelope(status: int, message: str, name: str) -> tuple[int, dict, bytes, str]:
    return _json_body(status, {"error": {"code": status, "message": message, "status": name}})


class FakeLLM(LocalHTTPFake):
    """One server for both providers. `openai_url` / `gemini_url` are the SDKs' base URLs."""

    def __init__(self):
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self.openai = OpenAIScript(self)
        self.gemini = GeminiScript(self)
        self.reset()

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def gemini_url(self) -> str:
        return self.url

    def reset(self) -> None:
        """Forget scripts, keys, records; cut short any delayed answer still waiting."""
        with self._lock:
            self._abort.set()
            self._abort = threading.Event()
            self._queues: dict[str, deque[Step]] = {"openai": deque(), "gemini": deque()}
            self._keys: dict[str, set[str]] = {"openai": set(), "gemini": set()}
            self.requests: list[LLMRequest] = []
            self.unexpected: list[LLMRequest] = []
            self.failures: list[str] = []
            self._ids = 0

    def stop(self) -> None:
        self._abort.set()
        super().stop()

    def problems(self) -> list[str]:
        """What a test did not plan for: requests found no step, or a step's check failed."""
        found = [f"unexpected {req.provider or '?'} request {req.method} {req.path}" for req in self.unexpected]
        return found + list(self.failures)

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    # --- HTTP -------------------------------------------------------------------------------------
    def _read(self, handler: BaseHTTPRequestHandler, method: str) -> LLMRequest:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        req = LLMRequest(
            provider="",
            endpoint="",
            method=method,
            path=split.path,
            query={key: values[0] for key, values in parse_qs(split.query).items()},
            headers=Headers(handler.headers.items()),
            body=raw,
            time=time.monotonic(),
        )
        content_type = req.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            req.parts = _multipart(content_type, raw)
        elif raw:
            with contextlib.suppress(ValueError):
                req.json = json.loads(raw)
        if OPENAI_CHAT.match(req.path) or OPENAI_TRANSCRIPTIONS.match(req.path):
            req.provider = "openai"
            req.endpoint = "chat" if OPENAI_CHAT.match(req.path) else "transcription"
            req.model = (req.json or {}).get("model", "") if isinstance(req.json, dict) else req.form.get("model", "")
        elif match := GEMINI_GENERATE.match(req.path):
            req.provider, req.endpoint = "gemini", "generate"
            req.model, req.api_version = match["model"], match["version"]
        return req

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        abort = self._abort
        req = self._read(handler, method)
        with self._lock:
            self.requests.append(req)
        if not req.provider or method != "POST":
            answer = (
                _openai_envelope(404, f"Invalid URL ({method} {req.path})", "unknown_url")
                if req.path.startswith("/v1/") and not req.provider
                else _gemini_envelope(404, f"Method not found: {method} {req.path}", "NOT_FOUND")
            )
            return self._send(handler, req, answer)
        keys = self._keys[req.provider]
        if keys and req.key not in keys:
            return self._send(handler, req, _openai_bad_key(req.key) if req.provider == "openai" else _gemini_bad_key())
        with self._lock:
            queue = self._queues[req.provider]
            step = queue.popleft() if queue and queue[0].endpoint in (None, req.endpoint) else None
            if step is None:
                self.unexpected.append(req)
            else:
                step.request, req.step = req, step
        if step is None:
            message = f"FakeLLM: no scripted step for {req.provider} {req.endpoint} ({req.path})"
            envelope = _openai_envelope if req.provider == "openai" else _gemini_envelope
            return self._send(handler, req, envelope(UNEXPECTED_STATUS, message, "fake_llm_unexpected"))
        if step.check is not None:
            try:
                outcome = step.check(req)
            except Exception as exc:  # noqa: BLE001 - reported to the test through `failures`
                outcome, detail = False, f"{type(exc).__name__}: {exc}"
            else:
                detail = f"returned {outcome!r}"
                outcome = True if outcome is None else outcome
            if not outcome:
                with self._lock:
                    self.failures.append(f"check of {step.description} failed: {detail}")
                envelope = _openai_envelope if req.provider == "openai" else _gemini_envelope
                message = f"FakeLLM: check failed: {detail}"
                return self._send(handler, req, envelope(UNEXPECTED_STATUS, message, "fake_llm_check_failed"))
        if step.delay and abort.wait(step.delay):
            return  # reset or stopped while waiting: close without answering
        self._send(handler, req, step.respond(req))

    def _send(self, handler: BaseHTTPRequestHandler, req: LLMRequest, answer: tuple[int, dict, bytes, str]) -> None:
        status, headers, payload, content_type = answer
        req.status = status
        with contextlib.suppress(OSError):  # the client may have given up (timeout) meanwhile
            handler.send_response(status, "Fake Status" if status == UNEXPECTED_STATUS else None)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                handler.send_header(name, str(value))
            handler.end_headers()
            handler.wfile.write(payload)


def _multipart(content_type: str, raw: bytes) -> list[FormPart]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    parts = []
    for part in message.iter_parts():
        parts.append(
            FormPart(
                name=part.get_param("name", header="content-disposition") or "",
                data=part.get_payload(decode=True) or b"",
                filename=part.get_filename(),
                content_type=part.get_content_type() if part.get("content-type") else "text/plain",
            )
        )
    return parts
