"""Seconds to provision a clinic: plain migrations vs. cloning a migrated base schema.

    .venv/bin/python bench/tenants.py [--clinics 50]

Runs against a scratch database (`secretaria_bench`, dropped and recreated) on the same
PostgreSQL as the app (the embedded one when DATABASE_URL is unset). Each clinic is made
by the provisioning service, as production does (schema, domain, secret, staff admin).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretaria.settings")
os.environ["DJANGO_READ_DOT_ENV"] = "false"

from secretaria import devservices  # noqa: E402

BENCH_DB = "secretaria_bench"


def _scratch_database() -> None:
    import psycopg

    devservices.ensure_environ()
    parts = urlsplit(os.environ["DATABASE_URL"])
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def _provision_many(prefix: str, count: int) -> tuple[list[float], list[float]]:
    """Provision `count` clinics; returns (schema+domain+secret seconds, staff admin seconds)."""
    from tenants.services import clinic_provision

    schema_times, admin_times = [], []
    for index in range(count):
        common = {
            "slug": f"{prefix}_{index}",
            "name": f"Clínica {prefix} {index}",
            "domains": [f"{prefix}-{index}.bench.localhost"],
        }
        started = time.perf_counter()
        clinic_provision(**common)
        middle = time.perf_counter()
        # the same call again adds only the staff admin (provisioning is idempotent)
        clinic_provision(**common, admin_email=f"admin@{prefix}{index}.test", admin_password="bench-password-123")
        schema_times.append(middle - started)
        admin_times.append(time.perf_counter() - middle)
    return schema_times, admin_times


def _report(label: str, schema: list[float], admin: list[float]) -> float:
    total = [a + b for a, b in zip(schema, admin, strict=True)]
    print(
        f"{label:<17}: median {statistics.median(total):.3f} s/clinic in all "
        f"(schema, domain, secret {statistics.median(schema):.3f} s; staff admin {statistics.median(admin):.3f} s; "
        f"p90 in all {statistics.quantiles(total, n=10)[-1]:.3f} s)"
    )
    return statistics.median(total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=50)
    args = parser.parse_args()

    _scratch_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tenants.services import clinic_provision

    call_command("migrate_schemas", shared=True, executor="standard", verbosity=0)

    plain = _provision_many("plain", args.clinics)

    # Cloning: a pristine, migrated base schema copied with its data (migration records,
    # content types, permissions), then migrations faked.
    clinic_provision(slug="clinic_template", name="Modelo", domains=["template.bench.localhost"])
    settings.TENANT_BASE_SCHEMA = "clinic_template"
    settings.TENANT_CREATION_FAKES_MIGRATIONS = True
    cloned = _provision_many("clone", args.clinics)

    print(f"clinics per method: {args.clinics}")
    plain_median = _report("plain migrations", *plain)
    clone_median = _report("schema cloning", *cloned)
    print(f"ratio clone/plain: {clone_median / plain_median:.2f}")
    print("(the staff admin's cost is Django's PBKDF2 password hashing, the same for both methods)")
    target = 0.5
    best = min(plain_median, clone_median)
    print(f"target < {target} s/clinic: {'met' if best < target else 'NOT met'} ({best:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
