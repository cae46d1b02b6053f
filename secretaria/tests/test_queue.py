"""Jobs carry their clinic: a real RQ worker process runs each in its clinic's schema and time zone."""

import time
import uuid

import pytest
import requests
from django.contrib.auth.models import Group
from django.db import connection
from django_tenants.utils import schema_context

from secretaria import queue
from secretaria.testing.jobs import record_context
from secretaria.testing.processes import rq_worker

pytestmark = pytest.mark.integration


def _wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _groups(schema, token):
    with schema_context(schema):
        return list(Group.objects.filter(name__startswith=f"job:{token}:").values_list("name", flat=True))


def test_job_runs_in_the_enqueuing_clinics_schema_and_time_zone(clinics, committed, tmp_path):
    token = uuid.uuid4().hex[:12]
    with schema_context("beta"):
        queue.enqueue(record_context, token)  # outside a transaction: queued at once
    with schema_context("alfa"):
        queue.enqueue(record_context, token + "a")

    with rq_worker(log_path=tmp_path / "worker.log") as (_, metrics_url):
        assert _wait_for(lambda: _groups("beta", token) and _groups("alfa", token + "a")), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        scraped = requests.get(metrics_url, timeout=5).text

    assert _groups("beta", token) == [f"job:{token}:beta:America/Manaus"]
    assert _groups("alfa", token + "a") == [f"job:{token}a:alfa:America/Sao_Paulo"]
    # nothing leaked into the other clinic or the public schema
    assert _groups("alfa", token) == []
    assert _groups("beta", token + "a") == []
    connection.set_schema_to_public()
    assert not Group.objects.filter(name__startswith=f"job:{token}").exists()
    # counters incremented inside the job reach what Prometheus scrapes from the worker
    assert 'secretaria_jobs_total{outcome="ok",task="record_context",tenant="beta"} 1.0' in scraped
    assert 'secretaria_jobs_total{outcome="ok",task="record_context_marker",tenant="alfa"} 1.0' in scraped


@pytest.mark.django_db
def test_enqueue_waits_for_commit(clinics, django_capture_on_commit_callbacks):
    with schema_context("alfa"), django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue.enqueue(record_context, "not-yet")
    assert len(callbacks) == 1
    pending = queue.get_queue()
    before = pending.count
    callbacks[0]()
    assert pending.count == before + 1
    job = pending.jobs[-1]
    assert job.args[:2] == ("alfa", "secretaria.testing.jobs.record_context")
    assert job.description == "secretaria.testing.jobs.record_context [alfa]"
    job.delete()


@pytest.mark.django_db
def test_enqueue_with_redis_down_is_counted_not_raised(clinics, settings, request):
    from prometheus_client import REGISTRY

    from secretaria.redis import get_redis

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    get_redis.cache_clear()
    request.addfinalizer(get_redis.cache_clear)
    labels = {"tenant": "alfa", "task": "secretaria.testing.jobs.record_context"}
    before = REGISTRY.get_sample_value("secretaria_enqueue_errors_total", labels) or 0
    with schema_context("alfa"):
        assert queue.enqueue_now(record_context, "lost") is None
    assert REGISTRY.get_sample_value("secretaria_enqueue_errors_total", labels) == before + 1
