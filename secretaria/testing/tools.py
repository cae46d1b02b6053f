"""Outside command-line checkers (promtool, nginx, docker-compose...) for the deploy tests.

A missing tool skips its test with the Debian package to install, except under CI=true,
where a check that silently did not run would pass a broken deploy: there it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VENV_BIN = BASE_DIR / ".venv" / "bin"


def require_tool(name: str, package: str) -> str:
    """The tool's path (PATH, the sbin folders nginx lives in, the project's .venv/bin), or
    skip/fail naming the package."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", str(VENV_BIN)])
    path = shutil.which(name, path=search)
    if path:
        return path
    message = f"`{name}` is not installed: install the package `{package}`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a deploy check may not be skipped)")
    pytest.skip(message)
