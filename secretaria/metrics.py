"""Our Prometheus metrics (`secretaria_` prefix), and the `/metrics` view.

Metrics that concern one clinic carry a `tenant` label: the resolved clinic's slug, never
a raw header value. Under gunicorn the values of every worker are merged through
prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR); the RQ worker serves its
own registry on WORKER_METRICS_PORT. Gauges read at scrape time (queue lengths) are
served by the app's `/metrics` only, so Prometheus sees one series per queue.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import redis
from django.conf import settings
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from rq import Queue

log = logging.getLogger(__name__)

JOBS = Counter(
    "secretaria_jobs_total",
    "Background jobs run, by clinic, job and outcome.",
    ["tenant", "task", "outcome"],
)
JOB_DURATION = Histogram(
    "secretaria_job_duration_seconds",
    "Time spent running background jobs.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ENQUEUE_ERRORS = Counter(
    "secretaria_enqueue_errors_total",
    "Jobs that could not be enqueued (Redis unreachable); the sweepers pick the work up later.",
    ["tenant", "task"],
)
PERIODIC_RUNS = Counter(
    "secretaria_periodic_runs_total",
    "Periodic tasks started by the periodic runner.",
    ["task"],
)
HTTP_REQUESTS_BY_TENANT = Counter(
    "secretaria_http_requests_total",
    "Requests served on a clinic's host (or naming it by X-Company-Domain).",
    ["tenant"],
)

# --- the message pipeline ----------------------------------------------------------------
WEBHOOK_RECEIVED = Counter(
    "secretaria_webhook_received_total",
    "Whaticket webhook deliveries, by clinic and outcome (queued, duplicate, ignored_*, unauthorized, ...).",
    ["tenant", "outcome"],
)
WHATICKET_SEND = Counter(
    "secretaria_whaticket_send_total",
    "Sends to Whaticket by outcome (sent, retry, failed_permanent, failed_config, failed_exhausted, stored).",
    ["tenant", "outcome"],
)
WHATICKET_SEND_LATENCY = Histogram(
    "secretaria_whaticket_send_latency_seconds",
    "Duration of one send call to Whaticket.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30),
)
MESSAGES_PROCESSED = Counter(
    "secretaria_messages_processed_total",
    "Inbound messages processed (answered together per burst).",
    ["tenant"],
)
MESSAGE_END_TO_END = Histogram(
    "secretaria_message_end_to_end_seconds",
    "From an inbound message stored to its reply sent.",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300),
)
HANDOFFS = Counter(
    "secretaria_handoffs_total",
    "Conversations handed to a person, by reason.",
    ["tenant", "reason"],
)

# --- the agenda -----------------------------------------------------------------------------
AGENDA_REQUESTS = Counter(
    "secretaria_agenda_requests_total",
    "Agenda backend operations (availability, book, cancel, reschedule) by outcome.",
    ["tenant", "backend", "outcome"],
)
AGENDA_LATENCY = Histogram(
    "secretaria_agenda_latency_seconds",
    "Duration of agenda backend operations.",
    ["backend"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
APPOINTMENTS = Counter(
    "secretaria_appointments_total",
    "Appointment status changes (booked = scheduled), by clinic, new status and source.",
    ["tenant", "status", "source"],
)

REMINDERS_OVERDUE = Gauge(
    "secretaria_reminders_overdue",
    "Reminders due for more than 10 minutes and not sent (set by the reminder job).",
    ["tenant"],
    multiprocess_mode="liveall",
)
REMINDERS_SENT = Counter("secretaria_reminders_sent_total", "Appointment reminders queued for sending.", ["tenant"])
REMINDER_ANSWERS = Counter(
    "secretaria_reminder_answers_total",
    "Patients' answers to reminders (confirm, reschedule, cancel, cancel_kept).",
    ["tenant", "answer"],
)

LLM_REQUESTS = Counter(
    "secretaria_llm_requests_total",
    "Language-model calls by clinic, provider, model and outcome (ok, timeout, rate_limited, unavailable, "
    "bad_response, auth_error, circuit_open).",
    ["tenant", "provider", "model", "outcome"],
)
LLM_LATENCY = Histogram(
    "secretaria_llm_latency_seconds",
    "Duration of one language-model call (SDK retries included).",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60),
)
LLM_TOKENS = Counter(
    "secretaria_llm_tokens_total",
    "Tokens billed by the provider, by clinic, provider, model and kind (prompt, completion).",
    ["tenant", "provider", "model", "kind"],
)
INTENTS = Counter(
    "secretaria_intent_total",
    "What patients' messages were about, as the engine understood them.",
    ["tenant", "intent"],
)


def _probe_redis() -> redis.Redis:
    from secretaria.redis import get_probe_redis  # late: secretaria.redis reads settings

    return get_probe_redis()


class QueueCollector:
    """`secretaria_queue_jobs{queue}`: jobs waiting in each RQ queue, read from Redis at scrape time.

    Scheduled jobs (debounce windows, retries) are not counted: only work that is ready and
    not yet taken by a worker, so a growing value means the workers do not keep up. With
    Redis unreachable the gauge has no samples (an absent series, not a false zero).
    """

    def __init__(self, connection: Callable[[], redis.Redis] = _probe_redis):
        self._connection = connection

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "secretaria_queue_jobs", "Jobs waiting in an RQ queue (not scheduled, not started).", labels=["queue"]
        )
        try:
            connection = self._connection()
            for name in settings.RQ_QUEUES:
                gauge.add_metric([name], Queue(name, connection=connection).count)
        except redis.RedisError as exc:
            log.warning("queue lengths unavailable for /metrics: %s", type(exc).__name__)
            gauge = GaugeMetricFamily(gauge.name, gauge.documentation, labels=["queue"])
        yield gauge


class CircuitCollector:
    """`secretaria_llm_circuit_open{provider}`: 1 while a provider's circuit is open or half-open,
    read from Redis (where every worker's breaker keeps its state) at scrape time."""

    def collect(self) -> Iterator[Metric]:
        from conversations.llm.circuit import circuits_open  # late: needs settings and Redis

        gauge = GaugeMetricFamily(
            "secretaria_llm_circuit_open", "1 while the provider's circuit breaker is open.", labels=["provider"]
        )
        try:
            for provider, value in circuits_open(_probe_redis()).items():
                gauge.add_metric([provider], value)
        except redis.RedisError as exc:
            log.warning("llm circuit state unavailable for /metrics: %s", type(exc).__name__)
            gauge = GaugeMetricFamily(gauge.name, gauge.documentation, labels=["provider"])
        yield gauge


class _ProcessMetrics:
    """This process's default registry, as one collector of the scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry_for_scrape() -> CollectorRegistry:
    """What the app's `/metrics` serves: every gunicorn worker's metrics (multiprocess mode)
    or this process's, plus the gauges read at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(QueueCollector())
    registry.register(CircuitCollector())
    return registry


def metrics_view(request) -> HttpResponse:
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_LATEST)
