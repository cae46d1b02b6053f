"""require_tool: a missing checker skips locally, naming its package, and fails under CI."""

import pytest

from secretaria.testing.tools import require_tool

MISSING = "secretaria-no-such-tool"


def test_a_present_tool_is_found(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require_tool("sh", "dash").endswith("/sh")


def test_a_missing_tool_skips_naming_the_package(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the package `some-package`"):
        require_tool(MISSING, "some-package")


def test_a_missing_tool_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="some-package"):
        require_tool(MISSING, "some-package")
