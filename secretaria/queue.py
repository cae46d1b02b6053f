"""Enqueueing jobs that run inside a clinic's schema.

`enqueue(func, ...)` remembers the current clinic (connection.schema_name) and queues the
job when the surrounding transaction commits. The job runs through `run_in_tenant`, which
enters that clinic's schema and time zone, as a request on the clinic's host does. If Redis
is unreachable the failure is counted and logged, never raised: what was stored is swept
and enqueued again later.
"""

from __future__ import annotations

import logging
import time
import zoneinfo
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tenants.utils import get_public_schema_name
from redis.exceptions import RedisError
from rq import Queue

from secretaria import metrics
from secretaria.redis import get_redis

log = logging.getLogger(__name__)


def get_queue(name: str = "default") -> Queue:
    """An RQ queue on the shared, pooled Redis client (django_rq.get_queue opens a new pool per call)."""
    return Queue(name, connection=get_redis(), default_timeout=settings.RQ_QUEUES[name].get("DEFAULT_TIMEOUT"))


def _path(func: Callable | str) -> str:
    return func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"


def enqueue(
    func: Callable | str,
    *args: Any,
    delay: float | None = None,
    job_id: str | None = None,
    queue: str = "default",
    schema_name: str | None = None,
    **kwargs: Any,
) -> None:
    """Queue func(*args, **kwargs) for the current clinic once the transaction commits."""
    schema = schema_name or connection.schema_name
    transaction.on_commit(
        partial(enqueue_now, func, *args, delay=delay, job_id=job_id, queue=queue, schema_name=schema, **kwargs)
    )


def enqueue_now(
    func: Callable | str,
    *args: Any,
    delay: float | None = None,
    job_id: str | None = None,
    queue: str = "default",
    schema_name: str | None = None,
    **kwargs: Any,
):
    """Queue immediately; returns the RQ job, or None when Redis is unreachable."""
    schema = schema_name or connection.schema_name
    path = _path(func)
    rq_queue = get_queue(queue)
    options = {"job_id": job_id, "description": f"{path} [{schema}]"}
    try:
        if delay:
            return rq_queue.enqueue_in(timedelta(seconds=delay), run_in_tenant, schema, path, args, kwargs, **options)
        return rq_queue.enqueue(run_in_tenant, schema, path, args, kwargs, **options)
    except RedisError as exc:
        metrics.ENQUEUE_ERRORS.labels(tenant=schema, task=path).inc()
        log.error("could not enqueue %s for %s: %s", path, schema, exc)
        return None


def run_in_tenant(schema_name: str, func_path: str, args: tuple, kwargs: dict) -> Any:
    """The RQ entry point: run func_path inside the clinic's schema and time zone."""
    from tenants.models import Clinic

    started = time.perf_counter()
    outcome = "error"
    try:
        connection.set_schema_to_public()
        if schema_name != get_public_schema_name():
            clinic = Clinic.objects.filter(schema_name=schema_name).first()
            if clinic is None or not clinic.is_active:
                outcome = "skipped"
                log.warning("job %s skipped: clinic %s missing or inactive", func_path, schema_name)
                return None
            connection.set_tenant(clinic)
            timezone.activate(zoneinfo.ZoneInfo(clinic.time_zone))
        result = import_string(func_path)(*args, **kwargs)
        outcome = "ok"
        return result
    finally:
        metrics.JOBS.labels(tenant=schema_name, task=func_path.rsplit(".", 1)[-1], outcome=outcome).inc()
        metrics.JOB_DURATION.labels(task=func_path.rsplit(".", 1)[-1]).observe(time.perf_counter() - started)
        timezone.deactivate()
        connection.set_schema_to_public()
