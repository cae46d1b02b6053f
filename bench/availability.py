"""Free-slot latency of the built-in agenda with 5,000 stored appointments and 5 professionals.

    .venv/bin/python bench/availability.py [--days 300]

Measures one day queried (all services, all professionals), in-process (the backend call)
and over HTTP (`GET /api/agenda/availability` under the product's gunicorn), in a scratch
database. Baseline in the same run: the same day queried with no appointments stored.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretaria.settings")
os.environ["DJANGO_READ_DOT_ENV"] = "false"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

from secretaria import devservices  # noqa: E402

BENCH_DB = "secretaria_bench_agenda"


def _scratch() -> str:
    import psycopg

    devservices.ensure_environ()
    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    return os.environ["DATABASE_URL"]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=300, help="days queried per measurement")
    parser.add_argument("--appointments", type=int, default=5000)
    args = parser.parse_args()
    database_url = _scratch()

    import django

    django.setup()
    import requests
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from agenda.builtin import BuiltinBackend
    from agenda.models import AgendaSettings, Appointment, Professional, Service, WeeklyHours
    from tenants.services import clinic_provision

    call_command("migrate_schemas", shared=True, executor="standard", verbosity=0)
    clinic = clinic_provision(slug="bench_agenda", name="Clínica Bench", domains=["benchagenda.localhost"]).clinic
    connection.set_tenant(clinic)
    timezone.activate(clinic.time_zone)
    tz = timezone.get_current_timezone()
    settings_row = AgendaSettings.objects.create(min_notice_minutes=0, horizon_days=400, slot_step_minutes=15)
    services = [
        Service.objects.create(name="Consulta", duration_minutes=30),
        Service.objects.create(name="Retorno", duration_minutes=20),
        Service.objects.create(name="Exame", duration_minutes=45),
    ]
    professionals = []
    for index in range(5):
        professional = Professional.objects.create(name=f"Profissional {index + 1}")
        professional.services.set(services)
        professionals.append(professional)
    for weekday in range(5):
        WeeklyHours.objects.create(weekday=weekday, start=dtime(8), end=dtime(12))
        WeeklyHours.objects.create(weekday=weekday, start=dtime(13), end=dtime(18))
    WeeklyHours.objects.create(weekday=5, start=dtime(8), end=dtime(12))

    first = timezone.localdate() + timedelta(days=1)
    working_days = [first + timedelta(days=i) for i in range(400) if (first + timedelta(days=i)).weekday() < 6]
    backend = BuiltinBackend(settings_row)
    rng = random.Random(42)
    query_days = [rng.choice(working_days[:120]) for _ in range(args.days)]

    def measure_in_process() -> tuple[float, float, int]:
        samples, count = [], 0
        for day in query_days:
            started = time.perf_counter()
            count += len(backend.availability(first_day=day, last_day=day))
            samples.append(time.perf_counter() - started)
        return (*_percentiles(samples), count // len(query_days))

    baseline = measure_in_process()

    # 5,000 appointments: every 30-minute slot of each professional, day after day, 20 per day.
    rows = []
    for day in working_days:
        for professional in professionals:
            for slot in range(20):
                if len(rows) >= args.appointments:
                    break
                start = datetime.combine(day, dtime(8), tzinfo=tz) + timedelta(minutes=30 * slot)
                if start.hour >= 12:
                    start += timedelta(hours=1)
                if day.weekday() == 5 and start.hour >= 12:
                    continue
                rows.append(
                    Appointment(
                        patient_name="Paciente",
                        professional=professional,
                        service=services[0],
                        start=start,
                        end=start + timedelta(minutes=30),
                        source="api",
                    )
                )
        if len(rows) >= args.appointments:
            break
    Appointment.objects.bulk_create(rows, batch_size=1000)
    stored = Appointment.objects.count()
    loaded = measure_in_process()

    # Over HTTP, one connection, under the product's gunicorn.
    port_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AVAILABILITY_RATE_LIMIT": "100000/min",
        "LOG_LEVEL": "WARNING",
        "PORT": "0",
    }
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    port_env["PORT"] = str(port)
    port_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "deploy" / "gunicorn.conf.py")],
        cwd=BASE_DIR,
        env=port_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        session = requests.Session()
        url = f"http://127.0.0.1:{port}/api/agenda/availability"
        deadline = time.monotonic() + 30
        while True:
            try:
                session.get(f"http://127.0.0.1:{port}/livez", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        headers = {"Host": "benchagenda.localhost"}
        for day in query_days[:20]:
            session.get(url, params={"date": day.isoformat()}, headers=headers, timeout=10)
        samples = []
        for day in query_days:
            started = time.perf_counter()
            response = session.get(url, params={"date": day.isoformat()}, headers=headers, timeout=10)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        http = _percentiles(samples)
    finally:
        web.terminate()
        web.wait()

    print(f"appointments stored: {stored}, professionals: 5, services: 3, days queried: {len(query_days)}")
    print(
        f"in-process, empty agenda (baseline): p50 {baseline[0]:.2f} ms  p99 {baseline[1]:.2f} ms  "
        f"({baseline[2]} slots/day)"
    )
    print(
        f"in-process, {stored} appointments:   p50 {loaded[0]:.2f} ms  p99 {loaded[1]:.2f} ms  "
        f"({loaded[2]} slots/day)  ratio p99 {loaded[1] / baseline[1]:.2f}x"
    )
    print(f"over HTTP, {stored} appointments:    p50 {http[0]:.2f} ms  p99 {http[1]:.2f} ms")
    target = 20.0
    verdict = "met" if loaded[1] < target and http[1] < target else "NOT met"
    print(f"target p99 < {target:.0f} ms per day queried: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
