"""Webhook intake throughput and latency, then the drain rate of the queue it filled.

    .venv/bin/python bench/webhook_load.py [--requests 4000] [--connections 16] [--clinics 4]

1. In a scratch database, provisions the clinics and starts the product's gunicorn (the same
   config as `make run`, WEB_CONCURRENCY workers) with no RQ worker running ("paused").
2. Posts signed webhooks (variant A, distinct ids and numbers, spread over the clinics) on
   N keep-alive connections and prints requests/s and p50/p99 latency of the intake.
3. Starts RQ workers (one per core) and prints how fast they drain the queue (messages
   processed and their replies sent to a fake Whaticket over HTTP) and how many ended processed.
4. The floor, in the same run: a bare WSGI app under the same gunicorn that only checks the
   HMAC, inserts the raw body into PostgreSQL and pushes its id to Redis. Prints our ratio.
The intake runs with DEBOUNCE_SECONDS=0 so every job is runnable at once for the drain phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretaria.settings")
os.environ["DJANGO_READ_DOT_ENV"] = "false"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

from secretaria import devservices  # noqa: E402

BENCH_DB = "secretaria_bench_webhook"
BENCH_REDIS_DB = 15


def _scratch() -> tuple[str, str]:
    import psycopg

    devservices.ensure_environ()
    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    database_url = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    redis_parts = urlsplit(os.environ["REDIS_URL"])
    redis_url = urlunsplit(redis_parts._replace(path=f"/{BENCH_REDIS_DB}"))
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = database_url, redis_url
    return database_url, redis_url


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def _gunicorn(port: int, env: dict, app: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "deploy" / "gunicorn.conf.py")]
    if app:
        command.append(app)
    child_env = {**env, "PORT": str(port), "BIND_ADDRESS": "127.0.0.1"}
    proc = subprocess.Popen(command, cwd=BASE_DIR, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port)
    return proc


def _request(host: str, path: str, body: bytes, headers: dict) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(port: int, requests: list[bytes], latencies: list[float], statuses: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            started = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def _load(port: int, requests: list[bytes], connections: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    chunks = [requests[index::connections] for index in range(connections)]

    async def run():
        await asyncio.gather(*(_connection(port, chunk, latencies, statuses) for chunk in chunks))

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "statuses": statuses,
        "elapsed": elapsed,
    }


def _print(label: str, result: dict) -> None:
    print(
        f"{label:<28} {result['rps']:8.0f} req/s   p50 {result['p50_ms']:6.1f} ms   p99 {result['p99_ms']:6.1f} ms"
        f"   statuses {result['statuses']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--clinics", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="RQ workers for the drain")
    args = parser.parse_args()

    database_url, redis_url = _scratch()
    import django

    django.setup()
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    from conversations.intake import signature
    from conversations.models import Message
    from secretaria.redis import get_redis
    from secretaria.testing.fake_whaticket import FakeWhaticket
    from secretaria.testing.whaticket_payloads import variant_a
    from tenants.services import clinic_provision

    call_command("migrate_schemas", shared=True, executor="standard", verbosity=0)
    get_redis().flushdb()
    clinics = [
        clinic_provision(slug=f"bench_{i}", name=f"Clínica {i}", domains=[f"bench{i}.localhost"]).clinic
        for i in range(args.clinics)
    ]
    fake = FakeWhaticket().start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBOUNCE_SECONDS": "0",
        "WEBHOOK_RATE_LIMIT_NUMBER": "1000",
        "WHATSAPP_API_URL": fake.url,
        "WHATSAPP_BEARER_TOKEN": fake.api_token,
        "LOG_LEVEL": "WARNING",
        "WORKER_METRICS_PORT": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def build(count: int, offset: int, secret_for) -> list[bytes]:
        out = []
        for index in range(count):
            clinic = clinics[index % len(clinics)]
            number = f"55119{offset + index:08d}"
            body = json.dumps(
                variant_a(number=number, message_id=f"B{offset + index:010d}", text="Oi, bom dia")
            ).encode()
            ts = str(int(time.time()))
            headers = {"X-Timestamp": ts, "X-Signature": signature(secret_for(clinic), ts, body)}
            out.append(
                _request(f"{clinic.schema_name.replace('_', '')}.localhost", "/webhook/whaticket", body, headers)
            )
        return out

    # --- our intake, workers paused ---------------------------------------------------------
    port = _free_port()
    web = _gunicorn(port, env)
    try:
        _load(port, build(200, 90_000_000, lambda c: c.webhook_secret), args.connections)  # warm-up
        ours = _load(port, build(args.requests, 0, lambda c: c.webhook_secret), args.connections)
    finally:
        web.terminate()
        web.wait()
    total = 0
    for clinic in clinics:
        with schema_context(clinic.schema_name):
            total += Message.objects.filter(direction="in").count()

    # --- drain -------------------------------------------------------------------------------------
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "default", "--worker-ttl", "60"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]

    def counts():
        processed = sent = 0
        for clinic in clinics:
            with schema_context(clinic.schema_name):
                processed += Message.objects.filter(direction="in", processed_at__isnull=False).count()
                sent += Message.objects.filter(direction="out", status="sent").count()
        return processed, sent

    started = time.perf_counter()
    deadline = started + 600
    try:
        while time.perf_counter() < deadline:
            processed, sent = counts()
            if processed >= total and sent >= total:
                break
            time.sleep(0.5)
        drain_elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
    processed, sent = counts()

    # --- the floor -----------------------------------------------------------------------------
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor_inbox (id bigserial PRIMARY KEY, body text NOT NULL)")
    floor_secret = "floor-secret"  # noqa: S105 - the bench's own throwaway secret
    floor_env = {**env, "FLOOR_SECRET": floor_secret, "PYTHONPATH": str(BASE_DIR / "bench")}
    port = _free_port()
    floor = _gunicorn(port, floor_env, app="floor_app:application")
    try:
        _load(port, build(200, 95_000_000, lambda c: floor_secret), args.connections)
        floor_result = _load(port, build(args.requests, 50_000_000, lambda c: floor_secret), args.connections)
    finally:
        floor.terminate()
        floor.wait()
        fake.stop()

    print(
        f"requests: {args.requests} over {args.connections} connections, {args.clinics} clinics, "
        f"gunicorn workers: {env.get('WEB_CONCURRENCY', '2')}, cores: {os.cpu_count()}"
    )
    _print("intake (ours)", ours)
    _print("floor (bare WSGI)", floor_result)
    print(f"ratio ours/floor: {ours['rps'] / floor_result['rps']:.0%} of the floor's requests/s (target >= 30%)")
    print(f"p99 target < 50 ms: {'met' if ours['p99_ms'] < 50 else 'NOT met'}")
    print(f"stored: {total}/{args.requests}")
    print(
        f"drain with {args.workers} workers: {processed / drain_elapsed:.0f} messages/s "
        f"({drain_elapsed:.1f} s); processed {processed}/{total}, replies sent {sent}/{total}, "
        f"fake Whaticket received {len(fake.sent)}"
    )
    return 0 if processed == total and sent == total and total >= args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
