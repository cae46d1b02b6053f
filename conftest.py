"""Shared test setup: real PostgreSQL and Redis (embedded unless DATABASE_URL/REDIS_URL are
set), one test database per xdist worker, one Redis database per worker, and two clinics
created once per session the way production creates them."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

import pytest

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

pytest_plugins = ["secretaria.testing.llm_fixtures"]

STAFF_PASSWORD = "senha-de-teste-123"


def _worker_number() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(re.sub(r"\D", "", name) or 0)


def pytest_configure(config):
    from django.conf import settings

    # Tests use Redis databases 1..N (one per xdist worker), never the development db 0.
    url = re.sub(r"/\d+$", "", settings.REDIS_URL.rstrip("/")) + f"/{1 + _worker_number()}"
    settings.REDIS_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    for queue in settings.RQ_QUEUES.values():
        queue["URL"] = url


@dataclass
class Clinics:
    alfa: object
    beta: object


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_modify_db_settings, django_db_blocker):
    """The test database, always (pytest-django skips it when no test is marked django_db,
    which would leave integration tests on the development database), with two clinics."""
    from django.test.utils import setup_databases, teardown_databases

    from secretaria.redis import get_redis
    from tenants.services import clinic_provision

    get_redis().flushdb()
    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=0, interactive=False, aliases={"default"}, serialized_aliases=set())
        clinic_provision(
            slug="alfa",
            name="Clínica Alfa",
            domains=["alfa.localhost"],
            admin_email="staff@alfa.test",
            admin_password=STAFF_PASSWORD,
        )
        clinic_provision(
            slug="beta",
            name="Clínica Beta",
            domains=["beta.localhost"],
            time_zone="America/Manaus",
            admin_email="staff@beta.test",
            admin_password=STAFF_PASSWORD,
        )
    yield
    with django_db_blocker.unblock():
        teardown_databases(db_cfg, verbosity=0)


@pytest.fixture
def clinics(django_db_setup, django_db_blocker) -> Clinics:
    from tenants.models import Clinic

    with django_db_blocker.unblock():
        return Clinics(alfa=Clinic.objects.get(schema_name="alfa"), beta=Clinic.objects.get(schema_name="beta"))


@pytest.fixture(autouse=True)
def _public_schema_after_test():
    from tenants.selectors import clear_host_cache

    clear_host_cache()  # tests change clinics with queryset updates, which send no signals
    yield
    clear_host_cache()
    from django.db import connection

    if connection.connection is not None and not connection.needs_rollback:
        # a broken connection is reset by the next test
        with contextlib.suppress(Exception):
            connection.set_schema_to_public()


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Database access outside a test transaction, for tests whose data other processes
    (gunicorn, the RQ worker) must see. Such tests clean up what they create."""
    from django.db import connection

    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to write outside the test database"
    with django_db_blocker.unblock():
        yield
