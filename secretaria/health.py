"""`/healthz` (readiness) and `/livez` (liveness), answered before tenant resolution.

Each check runs in its own thread with a 1 s deadline, all in parallel, so the answer
comes within about a second even when PostgreSQL or Redis hangs. A check still stuck from
an earlier call is reported as failing at once instead of starting another thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import psycopg
from django.conf import settings
from django.http import JsonResponse

from secretaria.redis import get_probe_redis
from secretaria.worker import HEARTBEAT_KEY

CHECK_DEADLINE_SECONDS = 1.0
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="healthz")
_inflight: dict[str, Future] = {}
_lock = threading.Lock()


def _check_postgres() -> dict:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"],
        port=db["PORT"] or None,
        connect_timeout=2,
        autocommit=True,
    ) as conn:
        conn.execute("SELECT 1")
    return {}


def _check_redis() -> dict:
    get_probe_redis().ping()
    return {}


def _check_worker() -> dict:
    raw = get_probe_redis().get(HEARTBEAT_KEY)
    if raw is None:
        return {"ok": False, "error": "no worker heartbeat", "last_heartbeat_s": None}
    age = max(0.0, time.time() - float(raw))
    ok = age <= settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS
    result = {"last_heartbeat_s": round(age, 1)}
    if not ok:
        result.update(ok=False, error="worker heartbeat too old")
    return result


CHECKS: dict[str, Callable[[], dict]] = {
    "postgres": _check_postgres,
    "redis": _check_redis,
    "worker": _check_worker,
}


def _timed(func: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **func()}
    except Exception as exc:  # noqa: BLE001 - any failure is a failed check, reported by type
        result = {"ok": False, "error": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def run_checks() -> dict[str, dict]:
    futures: dict[str, Future] = {}
    results: dict[str, dict] = {}
    with _lock:
        for name, func in CHECKS.items():
            previous = _inflight.get(name)
            if previous is not None and not previous.done():
                results[name] = {"ok": False, "error": "previous check still hanging"}
                continue
            futures[name] = _inflight[name] = _executor.submit(_timed, func)
    deadline = time.monotonic() + CHECK_DEADLINE_SECONDS
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {"ok": False, "error": "timeout", "latency_ms": CHECK_DEADLINE_SECONDS * 1000}
    return {name: results[name] for name in CHECKS}


def healthz(request) -> JsonResponse:
    checks = run_checks()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


def livez(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


class HealthMiddleware:
    """Answers the probes before anything else (no host check, no tenant, no session)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/livez":
            return livez(request)
        if request.path == "/healthz":
            return healthz(request)
        return self.get_response(request)
