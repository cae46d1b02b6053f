"""The `fake_llm` fixture: one FakeLLM server per test session (per xdist worker), reset for each
test. Registered from the root conftest, so every app's tests can ask for it."""

from __future__ import annotations

import pytest

from secretaria.testing.fake_llm import PROVIDER_ENV, FakeLLM


@pytest.fixture(scope="session")
def fake_llm_server():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def fake_llm(fake_llm_server, monkeypatch):
    """The fake, empty. The test fails at teardown if a request found no scripted step or a step's
    check failed; a test that provokes that on purpose asserts it and clears `fake_llm.unexpected` /
    `fake_llm.failures`."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    fake_llm_server.reset()
    yield fake_llm_server
    problems = fake_llm_server.problems()
    fake_llm_server.reset()
    if problems:
        pytest.fail("FakeLLM: " + "; ".join(problems), pytrace=False)
