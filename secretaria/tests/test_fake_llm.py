"""FakeLLM itself: what it records, and how it fails loudly when a test did not plan a request."""

from __future__ import annotations

import base64
import threading
import time

import openai
import pytest
import requests

from secretaria.testing.fake_llm import UNEXPECTED_STATUS, b64_bytes, gemini_camel


def client(fake, **options):
    return openai.OpenAI(api_key="sk-test", base_url=fake.openai_url, max_retries=0, timeout=2, **options)


def test_an_unplanned_request_gets_599_and_is_flagged(fake_llm):
    with pytest.raises(openai.InternalServerError) as info:
        client(fake_llm).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "oi"}])

    assert info.value.status_code == UNEXPECTED_STATUS
    assert fake_llm.problems() == ["unexpected openai request POST /v1/chat/completions"]
    fake_llm.unexpected.clear()  # provoked on purpose: the fixture would fail the test otherwise


def test_a_failing_check_answers_599_and_is_reported(fake_llm):
    fake_llm.gemini.reply("oi", check=lambda req: req.model == "gemini-pro")

    response = requests.post(
        f"{fake_llm.gemini_url}/v1beta/models/gemini-2.5-flash:generateContent", json={}, timeout=2
    )

    assert response.status_code == UNEXPECTED_STATUS
    assert fake_llm.failures and "check of reply" in fake_llm.failures[0]
    fake_llm.failures.clear()


def test_unknown_routes_get_404_in_each_providers_envelope(fake_llm):
    openai_style = requests.post(f"{fake_llm.url}/v1/embeddings", json={}, timeout=2)
    google_style = requests.post(f"{fake_llm.url}/v1beta/models/x:streamGenerateContent", json={}, timeout=2)

    assert openai_style.status_code == 404 and openai_style.json()["error"]["code"] == "unknown_url"
    assert google_style.status_code == 404 and google_style.json()["error"]["status"] == "NOT_FOUND"
    assert fake_llm.unexpected == []


def test_transcription_records_the_multipart_form(fake_llm):
    fake_llm.openai.transcription("Queria marcar uma consulta.")

    result = client(fake_llm).audio.transcriptions.create(
        model="whisper-1", file=("voice.ogg", b"OggS\x00\x02", "audio/ogg"), language="pt"
    )

    assert result.text == "Queria marcar uma consulta."
    [request] = fake_llm.openai.requests
    assert request.endpoint == "transcription" and request.model == "whisper-1"
    assert request.form == {"model": "whisper-1", "language": "pt"}
    assert (request.file.filename, request.file.content_type, request.file.data) == (
        "voice.ogg",
        "audio/ogg",
        b"OggS\x00\x02",
    )


def test_a_step_for_another_endpoint_is_not_consumed(fake_llm):
    fake_llm.openai.transcription("texto")

    with pytest.raises(openai.InternalServerError):
        client(fake_llm).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "oi"}])

    assert len(fake_llm.openai.pending) == 1
    fake_llm.unexpected.clear()
    fake_llm.reset()


def test_reset_cuts_a_delayed_answer_short(fake_llm):
    fake_llm.gemini.delay(30).reply("nunca")
    url = f"{fake_llm.gemini_url}/v1beta/models/gemini-2.5-flash:generateContent"
    outcome = {}

    def call():
        try:
            requests.post(url, json={}, timeout=10)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=call)
    started = time.monotonic()
    thread.start()
    while not fake_llm.requests:
        time.sleep(0.01)
    fake_llm.reset()
    thread.join(5)

    assert "error" in outcome and time.monotonic() - started < 5


def test_camel_case_view_keeps_the_callers_own_keys():
    body = {
        "system_instruction": {"parts": [{"text": "x"}]},
        "tools": [
            {
                "function_declarations": [
                    {"name": "f", "parameters_json_schema": {"properties": {"doctor_id": {"type": "integer"}}}}
                ]
            }
        ],
    }

    camel = gemini_camel(body)

    assert "systemInstruction" in camel
    declaration = camel["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == {"properties": {"doctor_id": {"type": "integer"}}}


def test_signatures_decode_from_either_base64_alphabet():
    raw = b"\xfb\xff\xbf\xfe sig"
    standard = base64.b64encode(raw).decode()

    assert "+" in standard or "/" in standard
    assert b64_bytes(standard) == b64_bytes(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
