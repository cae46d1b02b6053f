"""`make run`: the whole product on this machine, in one terminal.

Starts (or reuses) the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are
unset, applies migrations, provisions the demo clinic, then runs gunicorn, one RQ worker
with its scheduler and the periodic runner. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from secretaria import devservices

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = devservices.VAR_DIR
PYTHON = sys.executable
DEMO_SLUG = "demo"
DEMO_HOST = "demo.localhost"
DEMO_ADMIN = "admin@demo.localhost"
OPERATOR = "operador"


def _password(name: str) -> str:
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies, so nothing outlives `make run` however it ends."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def _wait_live(port: int, procs: list[subprocess.Popen], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            raise SystemExit("a process exited during start-up; see the log above")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1):  # noqa: S310 - local URL
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the app did not answer on port {port} within {timeout} s")


def main() -> int:
    _die_with_parent()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "secretaria.settings")
    if env.get("DJANGO_ENV", "development") == "development":
        devservices.ensure_environ(env)
    port = int(env.get("PORT", "8080"))
    metrics_dir = VAR_DIR / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)

    print("Applying migrations...", flush=True)
    _manage(env, "migrate_schemas", "--executor", "standard", "-v", "0")
    demo_password = _password(".demo_password")
    operator_password = _password(".operator_password")
    _manage(
        env,
        "provision_tenant",
        "--slug",
        DEMO_SLUG,
        "--name",
        "Clínica Demo",
        "--domain",
        DEMO_HOST,
        "--admin-email",
        DEMO_ADMIN,
        "--admin-password",
        demo_password,
    )
    _manage(env, "seed_demo_agenda", "--tenant", DEMO_SLUG)
    _manage(env, "ensure_operator", "--username", OPERATOR, "--password", operator_password)

    web_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    commands = [
        ([PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"], web_env),
        ([PYTHON, "manage.py", "rqworker", "default", "--with-scheduler", "--worker-ttl", "60"], env),
        ([PYTHON, "manage.py", "run_periodic"], env),
    ]
    procs = [
        subprocess.Popen(command, cwd=BASE_DIR, env=child_env, preexec_fn=_die_with_parent)
        for command, child_env in commands
    ]

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _wait_live(port, procs)
        print(
            "\n"
            "  Secretária Virtual is running (Ctrl-C stops it).\n"
            f"  Painel da clínica demo: http://{DEMO_HOST}:{port}/painel/\n"
            f"      login: {DEMO_ADMIN}   senha: {demo_password}\n"
            f"  Operator admin:         http://localhost:{port}/admin/\n"
            f"      login: {OPERATOR}   senha: {operator_password}\n"
            f"  Health: http://localhost:{port}/healthz   Metrics: http://localhost:{port}/metrics\n"
            f"  Worker metrics: http://127.0.0.1:{env.get('WORKER_METRICS_PORT', '9101')}/metrics\n"
            "  Talk to the demo secretary: .venv/bin/python manage.py chat --tenant demo\n"
            "  The embedded PostgreSQL and Redis keep running; `make stop` stops them.\n",
            flush=True,
        )
        while not stopping and all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    failed = [proc for proc in procs if proc.returncode not in (0, -signal.SIGTERM, None)]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
