"""`.env.example` documents every setting, and copying it keeps the embedded services on."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from secretaria.testing.processes import BASE_DIR, product_env

EXAMPLE = (BASE_DIR / ".env.example").read_text()
CONTRACT = Path(BASE_DIR).parent / "shared" / "contracts" / "env.md"


def _documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", EXAMPLE, re.M))


def test_every_setting_read_by_the_settings_module_is_documented():
    source = (BASE_DIR / "secretaria" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'os\.environ\.get\("([A-Z][A-Z0-9_]+)"', source))
    assert read - _documented() == set()


@pytest.mark.skipif(not CONTRACT.exists(), reason="the shared env contract is not beside this checkout")
def test_every_name_of_the_env_contract_is_documented():
    names = set()
    for line in CONTRACT.read_text().splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", first_cell))
    assert "SHARED_SECRET" in names
    assert names - _documented() == set()


def test_database_and_redis_urls_stay_commented_out():
    assert re.search(r"^# DATABASE_URL=", EXAMPLE, re.M)
    assert re.search(r"^# REDIS_URL=", EXAMPLE, re.M)
    assert not re.search(r"^(DATABASE_URL|REDIS_URL)=", EXAMPLE, re.M)


@pytest.mark.integration
def test_a_copied_env_example_works_as_it_is(tmp_path):
    """Empty values mean the defaults, so `make init` followed by `make run` just works."""
    values = {}
    for line in EXAMPLE.splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    env = product_env(**values)
    code = "from django.conf import settings as s; print(s.SECRET_KEY == s.DEV_SECRET_KEY, s.DEBUG, s.TIME_ZONE)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["True", "True", "America/Sao_Paulo"]
