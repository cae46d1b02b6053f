"""The RQ worker class used by `make worker` and compose.

A SimpleWorker: jobs run in the worker process itself (no fork per job), so database
connections persist between jobs and counters incremented in jobs live in one registry,
served on WORKER_METRICS_PORT for Prometheus. Each heartbeat also stamps a key that
`/healthz` reads.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import close_old_connections
from prometheus_client import start_http_server
from rq.worker import SimpleWorker

HEARTBEAT_KEY = "secretaria:worker:heartbeat"
log = logging.getLogger(__name__)


class Worker(SimpleWorker):
    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout, pipeline)
        target = pipeline if pipeline is not None else self.connection
        target.set(HEARTBEAT_KEY, f"{time.time():.3f}", ex=24 * 3600)

    def work(self, *args, **kwargs):
        port = settings.WORKER_METRICS_PORT
        if port:
            start_http_server(port, addr=settings.WORKER_METRICS_ADDR)
            log.info("worker metrics on %s:%s/metrics", settings.WORKER_METRICS_ADDR, port)
        return super().work(*args, **kwargs)

    def execute_job(self, job, queue):
        close_old_connections()
        try:
            return super().execute_job(job, queue)
        finally:
            close_old_connections()
