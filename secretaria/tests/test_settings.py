"""Production refuses default secrets; `check --deploy` is clean with real ones."""

import subprocess
import sys

import pytest
import yaml
from django.conf import settings

from secretaria.testing.processes import BASE_DIR, product_env

pytestmark = pytest.mark.integration

GOOD = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k" * 30 + "Zx9!q" * 6,
    "FIELD_ENCRYPTION_KEY": "tNDlDg0dZJ8CvvxRJ5K3b0m6BR6fQkzX0ZkO5w8rT2E=",
    "JWT_SECRET": "j" * 20 + "Q8#w" * 5,
    "ALLOWED_HOSTS": "api.example.com,.example.com",
    "PUBLIC_HOST": "api.example.com",
    "BASE_DOMAIN": "example.com",
}


def _run(env_overrides, *args):
    env = product_env(**env_overrides)
    for name in [key for key, value in env_overrides.items() if value is None]:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", None),
        ("SECRET_KEY", settings.DEV_SECRET_KEY),
        ("FIELD_ENCRYPTION_KEY", None),
        ("FIELD_ENCRYPTION_KEY", settings.DEV_FIELD_ENCRYPTION_KEY),
        ("JWT_SECRET", None),
        ("JWT_SECRET", settings.DEV_JWT_SECRET),
        ("DATABASE_URL", None),
    ],
)
def test_production_refuses_missing_or_default_secrets(name, value):
    result = _run({**GOOD, name: value}, "check")
    assert result.returncode != 0
    assert "DJANGO_ENV=production refuses to start" in result.stderr
    assert name in result.stderr.splitlines()[-1]
    # the refusal names the setting, never a secret value
    assert settings.DEV_SECRET_KEY not in result.stderr


def test_production_check_deploy_is_clean():
    result = _run(GOOD, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_development_defaults_work_without_any_environment():
    result = _run({"DJANGO_ENV": None, "SECRET_KEY": None}, "check")
    assert result.returncode == 0, result.stderr


def test_the_compose_app_environment_lets_prometheus_scrape_app_and_passes_check_deploy(clinics):
    """docker-compose.yml's app settings: Prometheus's `Host: app:8080` is allowed (and sees
    /metrics over plain HTTP), other unknown hosts are not, and the proxy's scheme is trusted."""
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    app = compose["services"]["app"]["environment"]
    env = {**GOOD, "INTERNAL_HOSTS": app["INTERNAL_HOSTS"], "USE_X_FORWARDED_PROTO": app["USE_X_FORWARDED_PROTO"]}
    check = _run(env, "check", "--deploy", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stderr
    code = (
        "from django.conf import settings; from django.test import Client; c = Client(); "
        "scrape = c.get('/metrics', HTTP_HOST='app:8080'); other = c.get('/metrics', HTTP_HOST='evil:8080'); "
        "print(scrape.status_code, b'secretaria_queue_jobs' in scrape.content, other.status_code, "
        "settings.SECURE_PROXY_SSL_HEADER == ('HTTP_X_FORWARDED_PROTO', 'https'))"
    )
    result = _run(env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["200", "True", "404", "True"]
