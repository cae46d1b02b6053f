"""deploy/deploy.sh (`make deploy`), run for real: a `docker` stand-in on PATH records its calls,
a local HTTP server plays /healthz and another receives the failure notifications (sent by
the real curl)."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from secretaria.testing.tools import require_tool

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SCRIPT = BASE_DIR / "deploy" / "deploy.sh"
COMPOSE_FILE = BASE_DIR / "docker-compose.prod.yml"
SEED_ARGS = ["--domain", "osmardev.online", "--tenant-id", "42", "--tenant-slug", "acme"]
SECRETS = {
    "SECRET_KEY": "k" * 60,
    "FIELD_ENCRYPTION_KEY": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
    "JWT_SECRET": "j" * 40,
    "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
    "REDIS_PASSWORD": "fedcba9876543210fedcba9876543210",
}
WEBHOOK_TOKEN = "T0KEN-in-the-url"

FAKE_DOCKER = """#!{python}
# Stand-in for docker / docker-compose: records argv, exits 1 when an argument equals a word
# of FAKE_DOCKER_FAIL_ON (comma-separated).
import json, os, sys
name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
fail_on = [word for word in os.environ.get("FAKE_DOCKER_FAIL_ON", "").split(",") if word]
sys.exit(1 if any(word in args for word in fail_on) else 0)
"""


class _Server:
    """A local HTTP server in a thread: records every request, answers `status`/`body`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.body = b'{"status": "ok", "checks": {}}'
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                server.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def health():
    server = _Server()
    yield server
    server.close()


@pytest.fixture
def receiver():
    server = _Server()
    server.body = b"{}"
    yield server
    server.close()


def _env_text(receiver_url: str, **overrides: str) -> str:
    values = {
        **SECRETS,
        "DJANGO_ENV": "production",
        "PUBLIC_HOST": "api.osmardev.online",
        "BASE_DOMAIN": "osmardev.online",
        "ALLOWED_HOSTS": "api.osmardev.online,.osmardev.online",
        "MONITORING_WEBHOOK_URL": f"{receiver_url}/hooks/{WEBHOOK_TOKEN}",
        **overrides,
    }
    text = (BASE_DIR / ".env.example").read_text()
    for name, value in values.items():
        text, count = re.subn(rf"^{name}=.*$", lambda _m, n=name, v=value: f"{n}={v}", text, flags=re.M)
        if not count:
            text += f"{name}={value}\n"
    return text


@pytest.fixture
def deploy(tmp_path, health, receiver):
    """Runs deploy.sh in tmp_path (its .env, mode 600) with the docker stand-ins first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "docker-compose"):
        path = bin_dir / name
        path.write_text(FAKE_DOCKER.format(python=sys.executable))
        path.chmod(0o755)
    env_file = tmp_path / ".env"
    env_file.write_text(_env_text(receiver.url))
    env_file.chmod(0o600)
    log = tmp_path / "docker.log"

    def run(*args, fail_on="", extra_env=None, command=None, timeout=60):
        env = {k: v for k, v in os.environ.items() if k != "PORT"}
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
            FAKE_DOCKER_LOG=str(log),
            FAKE_DOCKER_FAIL_ON=fail_on,
            DEPLOY_HEALTH_INTERVAL="0.2",
            **(extra_env or {}),
        )
        command = command or ["bash", str(SCRIPT), "--compose-file", str(COMPOSE_FILE)]
        result = subprocess.run(
            [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
        )
        result.calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        result.output = result.stdout + result.stderr
        return result

    run.env_file = env_file
    run.bin_dir = bin_dir
    run.health_args = ["--health-url", f"{health.url}/healthz", "--health-timeout", "10"]
    return run


def _subcommands(calls):
    """Each compose call without its `docker compose -f FILE --env-file ENV` prefix."""
    result = []
    for call in calls:
        args = call[2:] if call[:2] == ["docker", "compose"] else call[1:]
        if args == ["version"]:
            continue
        assert args[:4] == ["-f", str(COMPOSE_FILE), "--env-file", "./.env"], call
        result.append(args[4:])
    return result


def _notifications(receiver):
    return [json.loads(request["body"]) for request in receiver.requests if request["method"] == "POST"]


def _assert_no_secret_printed(result):
    for value in SECRETS.values():
        assert value not in result.output
    assert WEBHOOK_TOKEN not in result.output


def test_shellcheck_accepts_the_script():
    tool = require_tool("shellcheck", "shellcheck")
    result = subprocess.run([tool, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_script_is_executable_and_strict():
    assert SCRIPT.stat().st_mode & stat.S_IXUSR
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


def test_the_scripts_insecure_values_are_the_settings_ones():
    listed = re.search(r"readonly INSECURE_VALUES=\((.*?)\n\)", SCRIPT.read_text(), re.S).group(1)
    assert set(re.findall(r'"([^"]*)"', listed)) == settings.INSECURE_VALUES - {""}


def test_dry_run_prints_every_step_and_calls_no_docker(deploy, health, receiver):
    result = deploy("--dry-run", *SEED_ARGS, *deploy.health_args)
    assert result.returncode == 0, result.output
    assert result.calls == []
    assert health.requests == [] and receiver.requests == []
    compose = f"docker compose -f {COMPOSE_FILE} --env-file ./.env"
    expected = [
        f"+ {compose} build",
        f"+ {compose} run --rm migrate",
        f"+ {compose} up -d",
        f"+ {compose} exec -T app python manage.py provision_tenant --slug acme --name acme "
        "--domain acme.osmardev.online --tenant-id 42",
        f"+ curl --silent --max-time 5 {health.url}/healthz",
    ]
    printed = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert printed == expected
    _assert_no_secret_printed(result)


def test_make_deploy_passes_the_seeds_arguments(deploy):
    make = ["make", "--no-print-directory", "-C", str(BASE_DIR), "deploy"]
    args = " ".join([*SEED_ARGS, "--dry-run", "--env-file", str(deploy.env_file), '--tenant-name "Clínica Acme"'])
    result = deploy(f"DEPLOY_ARGS={args}", command=make)
    assert result.returncode == 0, result.output
    assert result.calls == []
    assert "provision_tenant --slug acme --name Clínica\\ Acme --domain acme.osmardev.online --tenant-id 42" in (
        result.stdout
    )
    assert "-f docker-compose.prod.yml" in result.stdout


def test_a_full_run_migrates_before_starting_then_provisions_and_waits_for_health(deploy, health, receiver):
    result = deploy(*SEED_ARGS, "--tenant-name", "Clínica Acme", *deploy.health_args)
    assert result.returncode == 0, result.output
    assert _subcommands(result.calls) == [
        ["build"],
        ["run", "--rm", "migrate"],
        ["up", "-d"],
        [
            "exec",
            "-T",
            "app",
            "python",
            "manage.py",
            "provision_tenant",
            "--slug",
            "acme",
            "--name",
            "Clínica Acme",
            "--domain",
            "acme.osmardev.online",
            "--tenant-id",
            "42",
        ],
    ]
    assert [request["path"] for request in health.requests] == ["/healthz"]
    assert receiver.requests == []
    assert "deployed: https://acme.osmardev.online/painel/" in result.stdout
    _assert_no_secret_printed(result)


def test_the_tenant_id_is_optional_and_underscores_become_hyphens_in_the_host(deploy):
    args = ["--domain", "osmardev.online", "--tenant-slug", "clinica_sul", *deploy.health_args]
    result = deploy(*args)
    assert result.returncode == 0, result.output
    provision = _subcommands(result.calls)[-1]
    assert provision[5:] == [
        "provision_tenant",
        "--slug",
        "clinica_sul",
        "--name",
        "clinica_sul",
        "--domain",
        "clinica-sul.osmardev.online",
    ]


def test_docker_compose_v1_is_used_when_the_plugin_is_missing(deploy):
    # The stand-in `docker` fails every `docker compose ...`: only docker-compose works.
    result = deploy(*SEED_ARGS, *deploy.health_args, fail_on="compose")
    assert result.returncode == 0, result.output
    assert result.calls[0] == ["docker", "compose", "version"]
    v1 = result.calls[1:]
    assert {call[0] for call in v1} == {"docker-compose"}
    assert [call[5] for call in v1] == ["build", "run", "up", "exec"]


@pytest.mark.parametrize(
    ("fail_on", "step", "done"),
    [
        ("build", "build", 1),
        ("migrate", "migrate", 2),
        ("up", "up", 3),
        ("exec", "provision", 4),
    ],
)
def test_a_failing_step_stops_notifies_and_exits_non_zero(deploy, health, receiver, fail_on, step, done):
    result = deploy(*SEED_ARGS, *deploy.health_args, fail_on=fail_on)
    assert result.returncode == 1, result.output
    assert len(_subcommands(result.calls)) == done  # nothing after the failing step
    assert health.requests == []
    (notification,) = _notifications(receiver)
    assert set(notification) == {"text"}
    assert f"at step '{step}'" in notification["text"]
    assert socket.gethostname() in notification["text"] and "acme" in notification["text"]
    assert receiver.requests[0]["path"] == f"/hooks/{WEBHOOK_TOKEN}"
    assert receiver.requests[0]["headers"]["Content-Type"] == "application/json"
    assert f"error: step {step} failed" in result.stderr
    _assert_no_secret_printed(result)


def test_a_failing_build_never_starts_the_new_app(deploy):
    result = deploy(*SEED_ARGS, *deploy.health_args, fail_on="build")
    assert result.returncode == 1
    assert _subcommands(result.calls) == [["build"]]


def test_health_never_ok_times_out_notifies_and_exits_non_zero(deploy, health, receiver):
    health.status = 503
    health.body = b'{"status": "degraded", "checks": {"worker": {"ok": false}}}'
    result = deploy(*SEED_ARGS, "--health-url", f"{health.url}/healthz", "--health-timeout", "2")
    assert result.returncode == 1, result.output
    assert len(health.requests) >= 2
    (notification,) = _notifications(receiver)
    assert "at step 'health'" in notification["text"] and "within 2s" in notification["text"]
    assert '"worker": {"ok": false}' in notification["text"]  # the last answer names what is down
    _assert_no_secret_printed(result)


def test_status_ok_with_an_error_code_is_not_healthy(deploy, health, receiver):
    health.status = 500
    result = deploy(*SEED_ARGS, "--health-url", f"{health.url}/healthz", "--health-timeout", "1")
    assert result.returncode == 1
    assert "at step 'health'" in _notifications(receiver)[0]["text"]


def test_health_answering_200_without_status_ok_is_not_healthy(deploy, health, receiver):
    health.body = b'{"status": "starting"}'
    result = deploy(*SEED_ARGS, "--health-url", f"{health.url}/healthz", "--health-timeout", "1")
    assert result.returncode == 1
    assert "at step 'health'" in _notifications(receiver)[0]["text"]


def test_an_env_file_readable_by_others_is_refused_before_any_docker_call(deploy, receiver):
    deploy.env_file.chmod(0o644)
    result = deploy(*SEED_ARGS, *deploy.health_args)
    assert result.returncode == 1
    assert result.calls == []
    assert "mode 644" in result.stderr and "chmod 600" in result.stderr
    assert "at step 'env'" in _notifications(receiver)[0]["text"]


def test_a_missing_env_file_is_refused(deploy):
    result = deploy(*SEED_ARGS, "--env-file", "missing.env")
    assert result.returncode == 1
    assert result.calls == []
    assert "missing.env not found" in result.stderr


@pytest.mark.parametrize("name", sorted(SECRETS))
@pytest.mark.parametrize("value", sorted(settings.INSECURE_VALUES))
def test_an_empty_or_default_secret_is_refused_before_any_docker_call(deploy, receiver, name, value):
    deploy.env_file.write_text(_env_text(receiver.url, **{name: value}))
    result = deploy(*SEED_ARGS, *deploy.health_args)
    assert result.returncode == 1, result.output
    assert result.calls == []
    assert f"empty or default secret in ./.env: {name}" in result.stderr
    if value:
        assert value not in result.output


def test_one_default_key_among_the_field_encryption_keys_is_refused(deploy, receiver):
    keys = f"{SECRETS['FIELD_ENCRYPTION_KEY']},{settings.DEV_FIELD_ENCRYPTION_KEY}"
    deploy.env_file.write_text(_env_text(receiver.url, FIELD_ENCRYPTION_KEY=keys))
    result = deploy(*SEED_ARGS, *deploy.health_args)
    assert result.returncode == 1 and result.calls == []
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_quoted_secrets_are_read_without_their_quotes(deploy, receiver):
    deploy.env_file.write_text(_env_text(receiver.url, JWT_SECRET='"change-me"'))
    result = deploy(*SEED_ARGS, *deploy.health_args)
    assert result.returncode == 1 and "JWT_SECRET" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BASE_DOMAIN": "localhost"}, "set BASE_DOMAIN=osmardev.online"),
        ({"ALLOWED_HOSTS": "api.osmardev.online"}, "does not accept acme.osmardev.online"),
        ({"ALLOWED_HOSTS": ".osmardev.online", "PUBLIC_HOST": "admin.example.com"}, "PUBLIC_HOST=admin.example.com"),
    ],
)
def test_hosts_that_do_not_match_the_domain_are_refused(deploy, receiver, overrides, message):
    deploy.env_file.write_text(_env_text(receiver.url, **overrides))
    result = deploy(*SEED_ARGS, *deploy.health_args)
    assert result.returncode == 1, result.output
    assert result.calls == []
    assert message in result.stderr


def test_a_public_host_outside_the_domain_only_warns(deploy, receiver):
    overrides = {"PUBLIC_HOST": "admin.example.com", "ALLOWED_HOSTS": "admin.example.com,.osmardev.online"}
    deploy.env_file.write_text(_env_text(receiver.url, **overrides))
    result = deploy(*SEED_ARGS, *deploy.health_args)
    assert result.returncode == 0, result.output
    assert "warning: PUBLIC_HOST=admin.example.com is not under osmardev.online" in result.stderr


def test_without_a_monitoring_url_a_failure_still_exits_non_zero(deploy, receiver):
    deploy.env_file.write_text(_env_text(receiver.url, MONITORING_WEBHOOK_URL=""))
    result = deploy(*SEED_ARGS, *deploy.health_args, fail_on="build")
    assert result.returncode == 1
    assert receiver.requests == []
    assert "nobody was notified" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--domain is required"),
        (["--domain", "osmardev.online"], "--tenant-slug is required"),
        (["--tenant-slug", "acme"], "--domain is required"),
        ([*SEED_ARGS, "--tenant-id"], "--tenant-id needs a value"),
        ([*SEED_ARGS, "--bogus"], "unknown argument: --bogus"),
        (["--domain", "osmardev.online", "--tenant-slug", "Acme!"], "--tenant-slug"),
        (["--domain", "osmardev.online", "--tenant-slug", "acme", "--tenant-id", "x"], "--tenant-id must be"),
        (["--domain", "not a domain", "--tenant-slug", "acme"], "--domain must be a host name"),
    ],
)
def test_bad_arguments_print_the_usage_and_exit_2(deploy, receiver, args, message):
    result = deploy(*args)
    assert result.returncode == 2
    assert message in result.stderr and "usage: deploy/deploy.sh" in result.stderr
    assert result.calls == [] and receiver.requests == []


def test_help_exits_0(deploy):
    result = deploy("--help")
    assert result.returncode == 0 and "usage: deploy/deploy.sh" in result.stdout


def test_the_default_paths_need_no_warning_and_another_env_file_is_named(deploy, tmp_path):
    # Run from a copy of the project layout: the compose files and their .env side by side.
    for name in ("docker-compose.yml", "docker-compose.prod.yml"):
        shutil.copy(BASE_DIR / name, tmp_path / name, follow_symlinks=False)
    command = ["bash", str(SCRIPT)]
    result = deploy("--dry-run", *SEED_ARGS, command=command)
    assert result.returncode == 0, result.output
    assert "+ docker compose -f docker-compose.prod.yml --env-file ./.env build" in result.stdout
    assert "warning" not in result.stderr

    other = tmp_path / "other.env"
    other.write_text(deploy.env_file.read_text())
    other.chmod(0o600)
    result = deploy("--dry-run", *SEED_ARGS, "--env-file", str(other), command=command)
    assert result.returncode == 0, result.output
    assert f"the containers read ./.env (env_file in docker-compose.prod.yml), not {other}" in result.stderr


def test_an_interrupted_deploy_is_notified(deploy, health, receiver, tmp_path):
    health.status = 503
    health.body = b'{"status": "degraded"}'
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    env.update(PATH=f"{deploy.bin_dir}{os.pathsep}{env['PATH']}", FAKE_DOCKER_LOG=str(tmp_path / "docker.log"))
    env["DEPLOY_HEALTH_INTERVAL"] = "0.2"
    args = [*SEED_ARGS, "--health-url", f"{health.url}/healthz", "--health-timeout", "60"]
    process = subprocess.Popen(
        ["bash", str(SCRIPT), "--compose-file", str(COMPOSE_FILE), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not health.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert health.requests, "deploy.sh never reached the health step"
        process.terminate()
        _stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 1
    assert "error: step health failed: stopped unexpectedly (exit status 143)" in stderr
    (notification,) = _notifications(receiver)
    assert "at step 'health': stopped unexpectedly" in notification["text"]
