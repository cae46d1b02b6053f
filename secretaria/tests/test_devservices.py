"""The embedded PostgreSQL and Redis: reused when running, restarted after a crash, stopped on demand."""

import os
import signal
import time

import psycopg
import pytest
import redis

from secretaria import devservices

pytestmark = pytest.mark.integration


def _wait_dead(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still alive")


def test_embedded_services_reuse_recover_and_stop(tmp_path):
    pg_url = devservices.ensure_postgres(tmp_path)
    redis_url = devservices.ensure_redis(tmp_path)
    pg_pidfile = tmp_path / "postgres" / "data" / "postmaster.pid"
    redis_pidfile = tmp_path / "redis" / "redis.pid"
    pg_pid = int(pg_pidfile.read_text().split()[0])
    redis_pid = int(redis_pidfile.read_text())
    try:
        # running again reuses the running servers
        assert devservices.ensure_postgres(tmp_path) == pg_url
        assert devservices.ensure_redis(tmp_path) == redis_url
        assert int(pg_pidfile.read_text().split()[0]) == pg_pid
        with psycopg.connect(pg_url, connect_timeout=5) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("secretaria",)
        assert redis.Redis.from_url(redis_url).ping()

        # a crash leaves stale pid files behind; the next start copes with them
        os.kill(pg_pid, signal.SIGKILL)
        os.kill(redis_pid, signal.SIGKILL)
        _wait_dead(pg_pid)
        _wait_dead(redis_pid)
        assert pg_pidfile.exists() and redis_pidfile.exists()
        pg_url = devservices.ensure_postgres(tmp_path)
        redis_url = devservices.ensure_redis(tmp_path)
        with psycopg.connect(pg_url, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert redis.Redis.from_url(redis_url).ping()
        if os.geteuid() == 0:
            # as root the server runs as a dedicated user, never as root
            new_pid = int(pg_pidfile.read_text().split()[0])
            assert os.stat(f"/proc/{new_pid}").st_uid != 0
    finally:
        assert devservices.stop_postgres(tmp_path)
        assert devservices.stop_redis(tmp_path)
    assert not pg_pidfile.exists()
    assert devservices.stop_postgres(tmp_path) is False
    assert devservices.stop_redis(tmp_path) is False
