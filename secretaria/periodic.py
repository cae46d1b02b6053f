"""The periodic runner: every minute, enqueue the work that is due. It only enqueues.

Apps register their due-work jobs here (`register(...)` in their AppConfig.ready). Each
minute tick of each task is claimed in Redis with SET NX, so two runners enqueue nothing
twice; the jobs themselves claim their rows, so even a duplicate job sends nothing twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django_tenants.utils import get_public_schema_name

from secretaria import metrics
from secretaria.queue import enqueue_now
from secretaria.redis import get_redis

log = logging.getLogger(__name__)
CLAIM_PREFIX = "secretaria:periodic"


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    job: str  # dotted path of the job function
    every_minutes: int = 1
    per_tenant: bool = True  # once per active clinic, inside its schema; else once, in public


_registry: dict[str, PeriodicTask] = {}


def register(name: str, *, job: str, every_minutes: int = 1, per_tenant: bool = True) -> PeriodicTask:
    task = PeriodicTask(name=name, job=job, every_minutes=every_minutes, per_tenant=per_tenant)
    _registry[name] = task
    return task


def unregister(name: str) -> None:
    _registry.pop(name, None)


def registered() -> list[PeriodicTask]:
    return list(_registry.values())


def _claim(task: PeriodicTask, tick: int) -> bool:
    ttl = max(120, task.every_minutes * 120)
    return bool(get_redis().set(f"{CLAIM_PREFIX}:{task.name}:{tick}", "1", nx=True, ex=ttl))


def _active_schemas() -> list[str]:
    from tenants.selectors import active_clinics

    return [clinic.schema_name for clinic in active_clinics()]


def run_tick(tick: int, *, force: bool = False) -> int:
    """Enqueue the tasks due at minute `tick` (minutes since the epoch). Returns jobs enqueued."""
    enqueued = 0
    schemas: list[str] | None = None
    for task in registered():
        if not force and tick % task.every_minutes:
            continue
        if not _claim(task, tick):
            continue
        metrics.PERIODIC_RUNS.labels(task=task.name).inc()
        if task.per_tenant:
            if schemas is None:
                schemas = _active_schemas()
            targets = schemas
        else:
            targets = [get_public_schema_name()]
        for schema in targets:
            if enqueue_now(task.job, schema_name=schema) is not None:
                enqueued += 1
    return enqueued


def _beat() -> None:
    """Touch PERIODIC_HEARTBEAT_FILE: its age tells a healthcheck the loop still ticks."""
    if settings.PERIODIC_HEARTBEAT_FILE:
        Path(settings.PERIODIC_HEARTBEAT_FILE).touch()


def run_forever(stop=lambda: False) -> None:
    log.info("periodic runner started with tasks: %s", ", ".join(t.name for t in registered()) or "none")
    last_tick = None
    while not stop():
        tick = int(time.time() // 60)
        if tick != last_tick:
            close_old_connections()
            try:
                count = run_tick(tick)
                log.info("periodic tick %s: %s jobs enqueued", tick, count)
                last_tick = tick
                _beat()
            except Exception:  # noqa: BLE001 - keep the runner alive; next tick retries
                log.exception("periodic tick %s failed", tick)
        time.sleep(min(1.0, 60 - time.time() % 60))
