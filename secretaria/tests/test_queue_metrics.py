"""`secretaria_queue_jobs{queue}`: RQ backlog read from Redis when Prometheus scrapes `/metrics`."""

import re
import uuid
from datetime import timedelta

import pytest
import redis
from prometheus_client import generate_latest
from rq import Queue

from secretaria import metrics
from secretaria.redis import get_redis
from secretaria.testing.processes import free_port


def _queued(text: str, queue: str) -> float | None:
    match = re.search(rf'^secretaria_queue_jobs\{{queue="{re.escape(queue)}"\}} ([0-9.e+]+)$', text, re.M)
    return float(match.group(1)) if match else None


@pytest.fixture
def backlog_queue(settings):
    """A queue of our own (no worker listens to it) with three jobs waiting and one scheduled."""
    name = f"backlog-{uuid.uuid4().hex[:8]}"
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, name: {"URL": settings.REDIS_URL}}
    rq_queue = Queue(name, connection=get_redis())
    for number in range(3):
        rq_queue.enqueue("secretaria.testing.jobs.record_context", f"never-run-{number}")
    later = rq_queue.enqueue_in(timedelta(hours=1), "secretaria.testing.jobs.record_context", "later")
    yield name
    rq_queue.empty()
    later.delete()


def test_the_gauge_counts_jobs_waiting_in_each_queue(backlog_queue):
    text = generate_latest(metrics.registry_for_scrape()).decode()
    assert _queued(text, backlog_queue) == 3.0  # the scheduled job is not backlog
    assert _queued(text, "default") is not None


def test_the_gauge_is_served_in_multiprocess_mode_too(backlog_queue, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = generate_latest(metrics.registry_for_scrape()).decode()
    assert _queued(text, backlog_queue) == 3.0


@pytest.mark.django_db
def test_the_metrics_view_includes_the_gauge_and_the_process_metrics(backlog_queue, client):
    response = client.get("/metrics", HTTP_HOST="localhost")
    text = response.content.decode()
    assert response.status_code == 200
    assert _queued(text, backlog_queue) == 3.0
    assert "django_http_requests_before_middlewares_total" in text  # this process's registry


def test_with_redis_unreachable_the_gauge_has_no_samples_and_the_scrape_succeeds():
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    families = list(metrics.QueueCollector(connection=lambda: unreachable).collect())
    assert [family.name for family in families] == ["secretaria_queue_jobs"]
    assert families[0].samples == []
