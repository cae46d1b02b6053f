"""Run the real product processes (gunicorn, RQ worker, periodic runner) for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(db_name: str | None = None) -> str:
    """The URL of the database this process uses (the test database under pytest)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db_name or db['NAME']}"


def product_env(**overrides: str) -> dict[str, str]:
    """Environment for a child process that talks to the same PostgreSQL and Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "secretaria.settings",
        "DJANGO_READ_DOT_ENV": "false",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(overrides)
    return env


def wait_http(url: str, *, timeout: float = 20.0, headers: dict | None = None, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            requests.get(url, timeout=1, headers=headers)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def gunicorn(*, workers: int = 2, env: dict | None = None, log_path: Path | None = None):
    """Serve the product with the real gunicorn config on a free port; yields the base URL."""
    port = free_port()
    child_env = product_env(PORT=str(port), WEB_CONCURRENCY=str(workers), BIND_ADDRESS="127.0.0.1")
    child_env.update(env or {})
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "deploy" / "gunicorn.conf.py")],
        cwd=BASE_DIR,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/livez", proc=proc)
        yield base
    finally:
        _stop(proc)
        if log_path:
            log.close()


@contextmanager
def rq_worker(*, env: dict | None = None, metrics_port: int | None = None, log_path: Path | None = None):
    """A real `manage.py rqworker --with-scheduler` process; yields (process, metrics URL)."""
    port = metrics_port or free_port()
    child_env = product_env(WORKER_METRICS_PORT=str(port))
    child_env.update(env or {})
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "--with-scheduler", "--worker-ttl", "60"],
        cwd=BASE_DIR,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_http(url, proc=proc)
        yield proc, url
    finally:
        _stop(proc)
        if log_path:
            log.close()
