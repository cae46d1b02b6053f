"""The LLM circuit breaker: shared through Redis, opened by failures in a row, one half-open probe."""

import pytest

from conversations.llm.circuit import CircuitBreaker, circuit_id, circuits_open
from secretaria.redis import get_redis


@pytest.fixture(autouse=True)
def _clean():
    for key in get_redis().scan_iter(match="secretaria:llm:circuit:*"):
        get_redis().delete(key)
    yield


def test_failures_in_a_row_open_the_circuit_for_every_worker():
    mine, other_worker = CircuitBreaker("openai", threshold=3, reset_seconds=60), CircuitBreaker("openai")
    for _ in range(2):
        assert mine.allow()
        mine.record_failure()
    assert other_worker.allow()
    mine.record_failure()
    assert not mine.allow()
    assert not other_worker.allow()  # state lives in Redis, not in the process
    assert circuits_open()["openai"] == 1
    assert circuits_open()["gemini"] == 0


def test_a_success_resets_the_count():
    breaker = CircuitBreaker("gemini", threshold=2, reset_seconds=60)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.allow()


def test_after_the_reset_time_exactly_one_probe_goes_and_its_outcome_decides():
    first, second = CircuitBreaker("openai", threshold=1, reset_seconds=60), CircuitBreaker("openai", threshold=1)
    first.record_failure()
    assert not first.allow()
    get_redis().delete("secretaria:llm:circuit:openai:open")  # the reset time has passed
    assert first.allow()  # half-open: this worker holds the probe
    assert not second.allow()  # ...and no one else calls meanwhile
    first.record_failure()  # the probe failed: open again
    assert not second.allow()
    get_redis().delete("secretaria:llm:circuit:openai:open")
    assert second.allow()
    second.record_success()  # the probe worked: closed for everyone
    assert first.allow() and CircuitBreaker("openai").allow()
    assert circuits_open()["openai"] == 0


def test_each_endpoint_has_its_own_circuit():
    assert circuit_id("openai") == "openai"
    clinic_server = circuit_id("openai", "http://ollama.clinica.local/v1")
    assert clinic_server.startswith("openai:") and clinic_server != circuit_id("openai", "http://other/v1")
    broken = CircuitBreaker(clinic_server, threshold=1)
    broken.record_failure()
    assert not broken.allow()
    assert CircuitBreaker("openai").allow()
    assert circuits_open()["openai"] == 1  # the gauge says some openai endpoint is open
