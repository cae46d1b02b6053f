"""`/healthz` answers within 2 s whatever PostgreSQL and Redis do; `/livez` only says we serve.

These tests run gunicorn against a PostgreSQL and a Redis of their own, so stopping them
disturbs no other test.
"""

import os
import signal
import time

import pytest
import redis
import requests

from secretaria import devservices
from secretaria.testing.processes import gunicorn
from secretaria.worker import HEARTBEAT_KEY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_services(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("health-var")
    database_url = devservices.ensure_postgres(var_dir)
    redis_url = devservices.ensure_redis(var_dir)
    yield var_dir, database_url, redis_url
    devservices.stop_redis(var_dir)
    devservices.stop_postgres(var_dir)


def _pid(path):
    return int(path.read_text().split()[0])


def _get(base, path="/healthz", host="localhost"):
    started = time.monotonic()
    response = requests.get(base + path, headers={"Host": host}, timeout=5)
    return response, time.monotonic() - started


def test_healthz_ok_then_degraded_when_postgres_hangs(own_services):
    var_dir, database_url, redis_url = own_services
    redis.Redis.from_url(redis_url).set(HEARTBEAT_KEY, f"{time.time():.3f}")
    pg_pid = _pid(var_dir / "postgres" / "data" / "postmaster.pid")
    with gunicorn(workers=1, env={"DATABASE_URL": database_url, "REDIS_URL": redis_url}) as base:
        response, _ = _get(base, host="any-host.example")  # answered before host checks
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "ok"
        assert set(body["checks"]) == {"postgres", "redis", "worker"}
        assert body["checks"]["postgres"]["ok"] and body["checks"]["postgres"]["latency_ms"] >= 0
        assert body["checks"]["worker"]["last_heartbeat_s"] < 5

        os.kill(pg_pid, signal.SIGSTOP)
        try:
            response, elapsed = _get(base)
            assert response.status_code == 503
            assert elapsed < 2.0
            body = response.json()
            assert body["status"] == "degraded"
            assert body["checks"]["postgres"]["ok"] is False
            assert body["checks"]["redis"]["ok"] is True
            # /livez is still fine: a sick database never takes the intake's container down
            assert requests.get(base + "/livez", timeout=2).status_code == 200
        finally:
            os.kill(pg_pid, signal.SIGCONT)

        deadline = time.monotonic() + 10
        while _get(base)[0].status_code != 200:
            assert time.monotonic() < deadline, "healthz did not recover after PostgreSQL resumed"
            time.sleep(0.2)


def test_healthz_degraded_when_redis_is_stopped_or_hangs(own_services):
    var_dir, database_url, redis_url = own_services
    redis.Redis.from_url(redis_url).set(HEARTBEAT_KEY, f"{time.time():.3f}")
    redis_pid = _pid(var_dir / "redis" / "redis.pid")
    with gunicorn(workers=1, env={"DATABASE_URL": database_url, "REDIS_URL": redis_url}) as base:
        assert _get(base)[0].status_code == 200

        os.kill(redis_pid, signal.SIGSTOP)
        try:
            response, elapsed = _get(base)
            assert response.status_code == 503 and elapsed < 2.0
            assert response.json()["checks"]["redis"]["ok"] is False
        finally:
            os.kill(redis_pid, signal.SIGCONT)

        devservices.stop_redis(var_dir)
        response, elapsed = _get(base)
        assert response.status_code == 503 and elapsed < 2.0
        checks = response.json()["checks"]
        assert checks["redis"]["ok"] is False
        assert checks["worker"]["ok"] is False
        assert checks["postgres"]["ok"] is True


def test_worker_heartbeat_too_old_is_degraded(own_services):
    var_dir, database_url, _ = own_services
    redis_url = devservices.ensure_redis(var_dir)  # the previous test stopped it
    redis.Redis.from_url(redis_url).set(HEARTBEAT_KEY, f"{time.time() - 600:.3f}")
    with gunicorn(workers=1, env={"DATABASE_URL": database_url, "REDIS_URL": redis_url}) as base:
        response, _ = _get(base)
        assert response.status_code == 503
        worker = response.json()["checks"]["worker"]
        assert worker["ok"] is False
        assert worker["last_heartbeat_s"] >= 600
